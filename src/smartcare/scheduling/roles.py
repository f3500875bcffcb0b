from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant(
    "scheduling.book",
    Role.PATIENT,
    Role.FRONT_DESK,
    Role.DOCTOR,
    Role.NURSE,
    Role.DEPARTMENT_HEAD,
    Role.CHANNEL,
    Role.DEVICE,
)
grant("scheduling.manage", Role.FRONT_DESK, Role.DEPARTMENT_HEAD, Role.OPERATIONS_MANAGER)
grant(
    "scheduling.view_schedule",
    Role.PATIENT,
    Role.FRONT_DESK,
    Role.DOCTOR,
    Role.NURSE,
    Role.DEPARTMENT_HEAD,
    Role.OPERATIONS_MANAGER,
    Role.CHANNEL,
)
grant("scheduling.order_pre_visit", Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("scheduling.record_result", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
