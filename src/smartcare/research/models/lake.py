"""(filled by the research build)"""
