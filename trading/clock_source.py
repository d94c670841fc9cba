"""The clock the bid deadline is decided by. One indirection, so tests can stand at 09:59:59.999."""
from core.clock import now

__all__ = ["now"]
