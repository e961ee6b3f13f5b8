"""The device bearer token of the POS and agents' own systems, as FastAPI dependencies.

``DeviceDep`` is the live device behind ``Authorization: Bearer skd_…`` (401 otherwise);
``ClerkDeviceDep`` also wants a clerk's device (the POS API) and ``AgentDeviceDep`` an
agent's (the agent's API), 403 for another member's. Issued by ``simkeep pos add-device``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from simkeep.counter import service as counter
from simkeep.counter.service import Device
from simkeep.services import ServicesDep
from simkeep.staff.model import Permission, may

device_credentials = HTTPBearer(
    auto_error=False,
    scheme_name="DeviceToken",
    description="A device token from `simkeep pos add-device` (skd_…), one per device",
)
CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def bearer_device(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(device_credentials)],
) -> Device:
    """The live device whose token is in ``Authorization: Bearer …``; 401 otherwise."""
    if credentials is None:
        raise HTTPException(401, "send the device's token: Authorization: Bearer skd_…", CHALLENGE)
    device = await counter.device_for_token(
        services.db, token=credentials.credentials, now=services.clock.now()
    )
    if device is None:
        raise HTTPException(401, "this device token is unknown or revoked", CHALLENGE)
    return device


DeviceDep = Annotated[Device, Depends(bearer_device)]


async def clerk_device(device: DeviceDep) -> Device:
    """A clerk's device (``Permission.POS``); 403 for another member's."""
    if not may(device.member.role, Permission.POS):
        raise HTTPException(403, "this device does not belong to a clerk at a counter")
    return device


async def agent_device(device: DeviceDep) -> Device:
    """An agent's device (``Permission.AGENT_VIEW``); 403 for another member's."""
    if not may(device.member.role, Permission.AGENT_VIEW):
        raise HTTPException(403, "this device does not belong to an agent")
    return device


ClerkDeviceDep = Annotated[Device, Depends(clerk_device)]
AgentDeviceDep = Annotated[Device, Depends(agent_device)]
