"""Two actor systems talk over a byte-stream link: a sensor sends JSON
readings to a controller, which answers each with a command.

By default both systems run in this process over an in-memory duplex
pair; ``--pty`` joins them through a real pseudo-terminal pair instead
(the same raw tty path a USB serial adapter takes). To run one side on a
real serial port, give ``--device /dev/ttyUSB0 --role sensor`` here and
``--role controller`` on the machine at the other end of the cable.

Run: python examples/serial_link.py [--readings N] [--pty]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any, Optional

from atomr import Actor, ActorSystem, Context, props
from atomr.remote_serial import (
    RemoteActorRef,
    RemoteSystem,
    SerialTransport,
    decode_json,
    encode_json,
)

MANIFEST = "json"


class Controller(Actor[bytes, None]):
    """Answers every reading with a command for the sensor's valve."""

    def __init__(self, sensor: RemoteActorRef) -> None:
        self.sensor = sensor

    def handle(self, ctx: Context, msg: bytes) -> None:
        reading = decode_json(msg)
        valve = "open" if reading["celsius"] > 21.0 else "closed"
        self.sensor.tell(encode_json({"seq": reading["seq"], "valve": valve}))


class Sensor(Actor[bytes, None]):
    """Collects the controller's commands; resolves `done` after `expected`."""

    def __init__(self, expected: int, done: "asyncio.Future[list[Any]]") -> None:
        self.expected = expected
        self.done = done
        self.commands: list[Any] = []

    def handle(self, ctx: Context, msg: bytes) -> None:
        self.commands.append(decode_json(msg))
        if len(self.commands) == self.expected and not self.done.done():
            self.done.set_result(self.commands)


async def start_side(name: str, peer: str, transport: SerialTransport,
                     ) -> tuple[ActorSystem, RemoteSystem, RemoteActorRef]:
    """A system named `name` on `transport`, with a ref to the peer's actor."""
    system = await ActorSystem.create(name)
    link = await RemoteSystem.start_serial(system, transport)
    link.register_bytes_codec(MANIFEST)
    other = "controller" if name == "sensor" else "sensor"
    ref = link.actor_selection(f"akka.serial://{peer}@peer/user/{other}", MANIFEST)
    assert ref is not None
    return system, link, ref


async def run_pair(readings: int, ends: tuple[SerialTransport, SerialTransport]) -> None:
    sensor_sys, sensor_link, controller_ref = await start_side("sensor", "controller", ends[0])
    control_sys, control_link, sensor_ref = await start_side("controller", "sensor", ends[1])
    done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
    sensor_link.expose_actor(
        sensor_sys.actor_of(props(Sensor, factory=lambda: Sensor(readings, done)), "sensor"),
        MANIFEST)
    control_link.expose_actor(
        control_sys.actor_of(props(Controller, factory=lambda: Controller(sensor_ref)),
                             "controller"),
        MANIFEST)
    for seq in range(readings):
        controller_ref.tell(encode_json({"seq": seq, "celsius": 18.0 + seq % 7}))
    commands = await asyncio.wait_for(done, 30)
    if [c["seq"] for c in commands] != list(range(readings)):
        raise SystemExit("the commands came out of order")
    opened = sum(1 for c in commands if c["valve"] == "open")
    print(f"serial link: {len(commands)} readings answered in order "
          f"({opened} open, {len(commands) - opened} closed) over "
          f"{sensor_link.local_address} <-> {sensor_link.peer_address}")
    await control_link.shutdown()
    await sensor_link.shutdown()
    await sensor_sys.terminate()
    await control_sys.terminate()


async def main(readings: int, use_pty: bool, device: Optional[str], role: str) -> None:
    if device is not None:  # one side of a real cable; runs until interrupted
        peer = "controller" if role == "sensor" else "sensor"
        system, link, ref = await start_side(role, peer, SerialTransport(role, device))
        print(f"{link.local_address} waiting for {peer}")
        await asyncio.Event().wait()
        return
    if not use_pty:
        await run_pair(readings, SerialTransport.duplex_pair("sensor", "controller"))
        return
    master, slave = os.openpty()
    try:
        await run_pair(readings, (SerialTransport("sensor", master),
                                  SerialTransport("controller", os.ttyname(slave))))
    finally:
        os.close(slave)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100)
    parser.add_argument("--pty", action="store_true", help="use a pseudo-terminal pair")
    parser.add_argument("--device", help="a serial device for one side of a real link")
    parser.add_argument("--role", choices=("sensor", "controller"), default="sensor")
    args = parser.parse_args()
    asyncio.run(main(args.readings, args.pty, args.device, args.role))
