"""Payment providers: the interface every channel implements, and the registry."""

from smartcare.billing.providers.base import (
    Notification,
    OrderCreated,
    OrderRequest,
    PaymentProvider,
    RefundResult,
    TradeStatus,
    get_provider,
    providers,
)

__all__ = [
    "Notification",
    "OrderCreated",
    "OrderRequest",
    "PaymentProvider",
    "RefundResult",
    "TradeStatus",
    "get_provider",
    "providers",
]
