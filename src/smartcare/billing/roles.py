"""Billing capabilities. Whose bills a user may see is decided by patients.access."""

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# Seeing one's bills and paying by QR: patients (and family), the app or mini-program acting for
# a bound patient, kiosks for the patient whose one code was scanned, cashiers.
grant("billing.pay", Role.PATIENT, Role.CHANNEL, Role.DEVICE, Role.FRONT_DESK)
# The cashier window: cash and card, refunds requested and paid out, the own cash report.
grant("billing.cashier", Role.FRONT_DESK)
# The kiosk's payment page.
grant("billing.kiosk", Role.DEVICE)
# A second person approves refunds above the threshold.
grant("billing.approve_refund", Role.OPERATIONS_MANAGER)
# Prices, insurance policies, reconciliation, every cashier's report.
grant("billing.manage", Role.OPERATIONS_MANAGER)
