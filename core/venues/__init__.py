"""Venue adapters: live market data and real execution at the session edge.

The split follows NautilusTrader's: a *data client* brings market data in
(subscribe, then bars and trades), an *execution client* takes orders out
(submit, cancel) and brings the venue's order, fill, position and balance
reports back. Neither is inside the engine: the session runner calls them,
and everything they return enters the engine as a logged input, so
``console replay`` proves every decision without the venue.

Modes (``core.venues.base.MODES``):

``sim``
    the built-in simulator or a price file, fills from the built-in paper
    broker (``core/broker.py``). The default; no network.
``paper-live``
    live public market data from a venue (bars polled from the venue's REST
    API), fills from the built-in paper broker. No account needed.
``venue``
    orders go to the venue's paper or live account (execution client).

Clients: ``core.venues.ccxt_client`` (any ccxt exchange id),
``core.venues.alpaca_client`` (``alpaca``: US equities). The SDKs are
imported lazily, only when a venue is used.
"""

from core.venues.base import MODES, VenueError, VenueSpec

__all__ = ["MODES", "VenueError", "VenueSpec"]
