#!/usr/bin/env python3
"""tortoise-auth side of `cargo xtask bench --compare`.

Times the same operations as the testudo criterion benches, with the same inputs (secrets,
values, passwords, table sizes), and prints one JSON line per operation on stdout:

    {"op": "signing.sign", "median_ns": 4711.0, "iterations": 123456, "samples": 20}

`median_ns` is the median, over the samples, of the time per iteration of one sample (a batch
of iterations sized so that the samples fill the measurement time), which is how criterion's
median is computed too. Progress and diagnostics go to stderr.

Run it inside the virtual environment `cargo xtask bench --compare` creates (see
bench/requirements.txt for the pinned packages):

    python compare.py --ops signing.sign,jwt.verify_token_hs256 --work-dir /tmp/bench

`--list` prints the known operation names. Database operations use a file SQLite database in
`--work-dir`, seeded once with 100 000 access tokens and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from tortoise import Tortoise

import tortoise_auth
from tortoise_auth import (
    AbstractUser,
    AuthConfig,
    AuthService,
    DatabaseTokenBackend,
    JWTBackend,
    Signer,
    TimestampSigner,
    configure,
)
from tortoise_auth.hashers import PBKDF2Hasher, default_password_hash
from tortoise_auth.hashers.bcrypt import default_hasher as bcrypt_hasher
from tortoise_auth.models.tokens import AccessToken, generate_token, hash_token
from tortoise_auth.validators import validate_password

# The inputs of the Rust benches (crates/*/benches/*.rs).
SIGNING_SECRET = "a-benchmark-signing-secret-of-32-bytes"
SIGNED_VALUE = "user-42"
JWT_SECRET = "a-bench-secret-of-at-least-32-bytes-long"
PASSWORD = "correct horse battery staple"
TYPICAL_PASSWORD = "Tr0ub4dor&3-correct"
PBKDF2_600K = (
    "pbkdf2_sha256$600000$AAECAwQFBgcICQoLDA0ODw==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
TOKEN_ROWS = 100_000


class User(AbstractUser):
    """The application's user model, as a tortoise-auth application declares it."""

    class Meta:
        table = "bench_users"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Timing


class Timer:
    """Criterion-like sampling: warm up, size batches from the warm-up, take `samples` batches."""

    def __init__(self, warm_up: float, measure: float, samples: int) -> None:
        self.warm_up = warm_up
        self.measure = measure
        self.samples = samples

    def _plan(self, per_iter_ns: float) -> tuple[int, int]:
        """(batch size, sample count) so that the samples fill the measurement time."""
        budget_ns = self.measure * 1e9
        batch = max(1, int(budget_ns / self.samples / max(per_iter_ns, 1.0)))
        samples = self.samples
        if batch == 1:
            # Slow operations (password hashing): as many single-iteration samples as fit,
            # at least 10 like criterion's smallest sample size.
            samples = max(10, min(self.samples, int(budget_ns / max(per_iter_ns, 1.0))))
        return batch, samples

    def run_sync(self, f: Callable[[], Any]) -> tuple[float, int, int]:
        iters, start = 0, time.perf_counter_ns()
        deadline = start + self.warm_up * 1e9
        while True:
            f()
            iters += 1
            now = time.perf_counter_ns()
            if now >= deadline:
                break
        batch, samples = self._plan((now - start) / iters)
        per_iter = []
        for _ in range(samples):
            t0 = time.perf_counter_ns()
            for _ in range(batch):
                f()
            per_iter.append((time.perf_counter_ns() - t0) / batch)
        return statistics.median(per_iter), batch * samples, samples

    async def run_async(self, f: Callable[[], Awaitable[Any]]) -> tuple[float, int, int]:
        iters, start = 0, time.perf_counter_ns()
        deadline = start + self.warm_up * 1e9
        while True:
            await f()
            iters += 1
            now = time.perf_counter_ns()
            if now >= deadline:
                break
        batch, samples = self._plan((now - start) / iters)
        per_iter = []
        for _ in range(samples):
            t0 = time.perf_counter_ns()
            for _ in range(batch):
                await f()
            per_iter.append((time.perf_counter_ns() - t0) / batch)
        return statistics.median(per_iter), batch * samples, samples


# ---------------------------------------------------------------------------------------------
# Operations


def config() -> AuthConfig:
    """The reference defaults, plus the secrets and user model the benches need."""
    return AuthConfig(
        user_model="models.User",
        signing_secret=SIGNING_SECRET,
        jwt_secret=JWT_SECRET,
    )


def sync_ops() -> dict[str, Callable[[], Callable[[], Any]]]:
    """Operation name -> factory of the timed callable (setup happens in the factory)."""

    def signer(method: str) -> Callable[[], Callable[[], Any]]:
        def make() -> Callable[[], Any]:
            s = Signer(SIGNING_SECRET)
            ts = TimestampSigner(SIGNING_SECRET)
            signed = s.sign(SIGNED_VALUE)
            stamped = ts.sign_with_timestamp(SIGNED_VALUE)
            return {
                "sign": lambda: s.sign(SIGNED_VALUE),
                "unsign": lambda: s.unsign(signed),
                "timestamp_sign": lambda: ts.sign_with_timestamp(SIGNED_VALUE),
                "timestamp_unsign": lambda: ts.unsign_with_timestamp(stamped, max_age=3600),
            }[method]

        return make

    def validate() -> Callable[[], Any]:
        validators = config().password_validators

        def run() -> None:
            try:
                validate_password(TYPICAL_PASSWORD, None, validators)
            except tortoise_auth.InvalidPasswordError:
                pass

        return run

    def password_hash(kind: str) -> Callable[[], Callable[[], Any]]:
        def make() -> Callable[[], Any]:
            ph = config().get_password_hash()  # Argon2id t=3 m=64 MiB p=4, bcrypt 12, PBKDF2 600k
            if kind == "argon2id_hash":
                return lambda: ph.hash(PASSWORD)
            if kind == "argon2id_verify":
                stored = ph.hash(PASSWORD)
                return lambda: ph.verify(PASSWORD, stored)
            if kind == "bcrypt12_hash":
                bcrypt = bcrypt_hasher(rounds=12)
                return lambda: bcrypt.hash(PASSWORD)
            if kind == "bcrypt12_verify":
                stored = bcrypt_hasher(rounds=12).hash(PASSWORD)
                return lambda: ph.verify("wrong", stored)
            if kind == "pbkdf2_600k_hash":
                pbkdf2 = PBKDF2Hasher(iterations=600_000)
                return lambda: pbkdf2.hash(PASSWORD)
            if kind == "pbkdf2_600k_verify":
                return lambda: ph.verify("wrong", PBKDF2_600K)
            raise KeyError(kind)

        return make

    ops: dict[str, Callable[[], Callable[[], Any]]] = {
        f"signing.{m}": signer(m) for m in ("sign", "unsign", "timestamp_sign", "timestamp_unsign")
    }
    ops["validators.validate_password_typical"] = validate
    for kind in (
        "argon2id_hash",
        "argon2id_verify",
        "bcrypt12_hash",
        "bcrypt12_verify",
        "pbkdf2_600k_hash",
        "pbkdf2_600k_verify",
    ):
        ops[f"hash.{kind}"] = password_hash(kind)
    return ops


ASYNC_OPS = (
    "jwt.create_tokens_hs256",
    "jwt.verify_token_hs256",
    "db.verify_token_100k",
    "db.create_tokens",
    "service.authenticate",
)


async def seed_tokens() -> None:
    """100 000 access tokens in the table (once: the database file is reused by later runs)."""
    have = await AccessToken.all().count()
    if have >= TOKEN_ROWS:
        return
    log(f"seeding {TOKEN_ROWS - have} access tokens ...")
    now = datetime.now(tz=timezone.utc)
    later = now + timedelta(days=365)
    for start in range(have, TOKEN_ROWS, 1000):
        rows = [
            AccessToken(
                token_hash=hash_token(generate_token(64)),
                jti=uuid.uuid4().hex,
                user_id=f"user{i}",
                created_at=now,
                expires_at=later,
            )
            for i in range(start, min(start + 1000, TOKEN_ROWS))
        ]
        await AccessToken.bulk_create(rows)


async def run_async_ops(names: list[str], timer: Timer, work_dir: str) -> None:
    cfg = config()
    configure(cfg)
    jwt = JWTBackend(cfg)
    db_names = [n for n in names if n.startswith(("db.", "service."))]
    if db_names:
        os.makedirs(work_dir, exist_ok=True)
        path = os.path.join(work_dir, "tortoise-auth-bench.sqlite3")
        await Tortoise.init(
            db_url=f"sqlite://{path}",
            modules={"models": [__name__, "tortoise_auth.models.tokens"]},
        )
        await Tortoise.generate_schemas(safe=True)
        await seed_tokens()
    db = DatabaseTokenBackend(cfg)
    service = AuthService(cfg, backend=db)
    try:
        for name in names:
            if name == "jwt.create_tokens_hs256":
                f = lambda: jwt.create_tokens("42", role="admin")  # noqa: E731
            elif name == "jwt.verify_token_hs256":
                pair = await jwt.create_tokens("42", role="admin")
                f = lambda pair=pair: jwt.verify_token(pair.access_token)  # noqa: E731
            elif name == "db.verify_token_100k":
                pair = await db.create_tokens("bench")
                f = lambda pair=pair: db.verify_token(pair.access_token)  # noqa: E731
            elif name == "db.create_tokens":
                f = lambda: db.create_tokens("bench")  # noqa: E731
            elif name == "service.authenticate":
                user = await User.filter(email="bench@example.com").first()
                if user is None:
                    user = await User.create(email="bench@example.com", password="")
                pair = await db.create_tokens(str(user.pk))
                f = lambda pair=pair: service.authenticate(pair.access_token)  # noqa: E731
            else:
                raise KeyError(name)
            emit(name, await timer.run_async(f))
    finally:
        if db_names:
            await Tortoise.close_connections()


def emit(name: str, result: tuple[float, int, int]) -> None:
    median, iterations, samples = result
    line = {"op": name, "median_ns": median, "iterations": iterations, "samples": samples}
    print(json.dumps(line), flush=True)
    log(f"{name}: {median:.0f} ns/iter ({iterations} iterations)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default="", help="comma-separated operation names (default: all)")
    parser.add_argument("--warm-up", type=float, default=1.0, help="seconds of warm-up per op")
    parser.add_argument("--measure", type=float, default=3.0, help="seconds of measurement per op")
    parser.add_argument("--samples", type=int, default=20, help="samples per op")
    parser.add_argument("--work-dir", default="target/bench-compare", help="database directory")
    parser.add_argument("--list", action="store_true", help="print the operation names")
    args = parser.parse_args()

    sync = sync_ops()
    known = list(sync) + list(ASYNC_OPS)
    if args.list:
        print("\n".join(known))
        return 0
    names = [n for n in args.ops.split(",") if n] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        log(f"unknown operations: {', '.join(unknown)} (known: {', '.join(known)})")
        return 2

    timer = Timer(args.warm_up, args.measure, args.samples)
    for name in names:
        if name in sync:
            emit(name, timer.run_sync(sync[name]()))
    async_names = [n for n in names if n in ASYNC_OPS]
    if async_names:
        asyncio.run(run_async_ops(async_names, timer, args.work_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
