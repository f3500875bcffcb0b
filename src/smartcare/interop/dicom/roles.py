"""Imaging capabilities. Which patient's images a user may open is decided by patients.access."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# The viewer and a patient's studies: the care team, and patients for their own images.
grant("interop.imaging.view", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD, Role.PATIENT)
# Searching studies across the patients one may see.
grant("interop.imaging.search", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
# Storing images: the care team on the page; PACS and modalities (connected systems) over STOW-RS.
grant("interop.imaging.upload", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD, Role.CHANNEL)
