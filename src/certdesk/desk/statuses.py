"""The statuses a request and a CSR order move through, one enum each.

Stored as their values (``Request.status``, ``RequestEvent.status``, ``CsrOrder.status``);
every interface takes and shows these words.
"""

from __future__ import annotations

import enum


class RequestStatus(enum.StrEnum):
    """A request (an intake, an order's certificate): received → processing →
    completed | rejected."""

    RECEIVED = "received"
    PROCESSING = "processing"  # checked and bound; to be installed
    COMPLETED = "completed"
    REJECTED = "rejected"


class OrderStatus(enum.StrEnum):
    """A CSR order: pending (waiting for the signed certificate) → fulfilled | cancelled."""

    PENDING = "pending"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
