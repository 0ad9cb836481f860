"""The ledger of requests in flight: each by the id its reply will carry, and the worker it holds.

A worker holds at most one request. A reply or a loss takes its flight out of the ledger; an id
not in the ledger is a late duplicate (or an attempt already superseded) and is dropped. A flight
asked to stop (``cancelling``) stays in the ledger, its worker busy, until the worker answers.
"""

from __future__ import annotations

from pipeline.scheduling.flights import WorkRequest, flight_key
from pipeline.scheduling.work_kind import Flight


class FlightLedger:
    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}  # request or session id -> what is in flight
        self._busy_roles: dict[str, str] = {}  # worker role -> the id it works on
        self._cancelling: set[str] = set()  # ids of flights a cancel was sent for

    def busy(self, role: str) -> bool:
        return role in self._busy_roles

    def add(self, flight: Flight) -> str:
        """Record ``flight`` as sent; returns its id."""
        key = flight_key(flight.request)
        self._flights[key] = flight
        self._busy_roles[flight.role] = key
        return key

    def take(self, key: str) -> Flight | None:
        """Take the flight with id ``key`` out of the ledger (None: not in flight)."""
        flight = self._flights.pop(key, None)
        self._cancelling.discard(key)
        if flight is not None and self._busy_roles.get(flight.role) == key:
            del self._busy_roles[flight.role]
        return flight

    def take_role(self, role: str) -> Flight | None:
        """Take out the flight worker ``role`` holds (None: it holds none)."""
        key = self._busy_roles.get(role)
        return self.take(key) if key is not None else None

    def cancelling(self, key: str) -> bool:
        """A cancel was sent for the flight ``key`` (its answer has not come yet)."""
        return key in self._cancelling

    def mark_cancelling(self, key: str) -> None:
        if key in self._flights:
            self._cancelling.add(key)

    def flights(self) -> list[tuple[str, Flight]]:
        """(id, flight) of every request in flight, in the order sent."""
        return list(self._flights.items())

    def in_flight(self) -> dict[str, WorkRequest]:
        """Worker role -> the request it is working on."""
        return {role: self._flights[key].request for role, key in self._busy_roles.items()}

    def __len__(self) -> int:
        return len(self._flights)

    def sizes(self) -> dict[str, int]:
        return {
            "flights": len(self._flights),
            "busy_roles": len(self._busy_roles),
            "cancelling": len(self._cancelling),
        }
