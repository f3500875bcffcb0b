from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("visits.check_in", Role.PATIENT, Role.FRONT_DESK, Role.NURSE, Role.DEVICE)
grant("visits.kiosk", Role.DEVICE, Role.FRONT_DESK)
grant("visits.call", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
grant("visits.displays", Role.FRONT_DESK, Role.NURSE, Role.DEPARTMENT_HEAD, Role.OPERATIONS_MANAGER)
grant("visits.check_in_desk", Role.FRONT_DESK, Role.NURSE)
grant("visits.kiosk_page", Role.DEVICE)
