"""Triage is open to everyone, signed in or not; the kiosk page needs the kiosk capability.

``triage.use`` only decides who sees the page in the menu (patients, and the front desk who help
patients choose); the page itself is public.
"""

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("triage.use", Role.PATIENT, Role.FRONT_DESK)
grant("triage.kiosk_page", Role.DEVICE, Role.FRONT_DESK)
