"""Triage is open to everyone, signed in or not; the kiosk page needs the kiosk capability."""
