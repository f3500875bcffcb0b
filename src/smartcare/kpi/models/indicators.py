"""(filled by the cockpit build)"""
