from django.urls import path

from smartcare.billing import views

app_name = "billing"

urlpatterns = [
    path("", views.billing_home, name="home"),
    path("bills/<int:bill_id>/", views.bill_detail, name="bill"),
    path("bills/<int:bill_id>/pay/", views.pay, name="pay"),
    path("payments/<int:payment_id>/", views.payment, name="payment"),
    path("payments/<int:payment_id>/status/", views.payment_status, name="payment_status"),
    path("payments/<int:payment_id>/cancel/", views.cancel_payment, name="cancel_payment"),
    path("receipts/<int:settlement_id>/", views.receipt, name="receipt"),
    path("sandbox/pay/<str:token>/", views.sandbox_pay, name="sandbox_pay"),
    path("cashier/", views.cashier, name="cashier"),
    path("cashier/bills/<int:bill_id>/pay/", views.cashier_pay, name="cashier_pay"),
    path("cashier/bills/<int:bill_id>/refund/", views.refund_form, name="refund"),
    path("cashier/payouts/<int:payout_id>/", views.pay_out, name="pay_out"),
    path("cashier/report/", views.cash_report, name="cash_report"),
    path("kiosk/", views.kiosk, name="kiosk"),
    path("refunds/", views.refunds, name="refunds"),
    path("refunds/<int:refund_id>/decide/", views.decide_refund, name="decide_refund"),
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<int:item_id>/price/", views.set_price, name="set_price"),
    path("policies/", views.policies, name="policies"),
    path("policies/<int:policy_id>/", views.policy, name="policy"),
    path("reconciliation/", views.reconciliations, name="reconciliations"),
    path("reconciliation/<int:reconciliation_id>/", views.reconciliation_detail, name="reconciliation"),
    path("ledger/", views.ledger_page, name="ledger"),
]
