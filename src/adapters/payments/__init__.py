"""Payment gateways."""

from adapters.payments.disabled import DisabledPaymentGateway
from adapters.payments.instant import InstantPaymentGateway

__all__ = ["DisabledPaymentGateway", "InstantPaymentGateway"]
