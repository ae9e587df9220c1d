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

`service.authenticate_x16` runs 16 `authenticate` coroutines at once (`asyncio.gather`, 16
users with one token each) per iteration; its time per call is the batch time / 16.
`service.authenticate_x16_pg` does the same on PostgreSQL (Tortoise with asyncpg): the server
named by `TESTUDO_BENCH_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test), in a
dedicated database `testudo_bench_py` created there if missing and seeded once with 100 000
access tokens.

An operation that fails is reported on stderr and skipped; the others still run, and the exit
status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

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
CALLERS = 16
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
POSTGRES_DATABASE = "testudo_bench_py"


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


SQLITE_OPS = (
    "db.verify_token_100k",
    "db.create_tokens",
    "service.authenticate",
    "service.authenticate_x16",
)
POSTGRES_OPS = ("service.authenticate_x16_pg",)
ASYNC_OPS = ("jwt.create_tokens_hs256", "jwt.verify_token_hs256") + SQLITE_OPS + POSTGRES_OPS


async def seed_tokens() -> None:
    """100 000 access tokens in the table (once: the database is reused by later runs)."""
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


async def postgres_url() -> str:
    """The bench database's URL on the configured server, the database created if missing."""
    import asyncpg  # only the PostgreSQL operation needs it

    server = os.environ.get("TESTUDO_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    conn = await asyncpg.connect(server)
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", POSTGRES_DATABASE
        )
        if not exists:
            log(f"creating database {POSTGRES_DATABASE}")
            await conn.execute(f'CREATE DATABASE "{POSTGRES_DATABASE}"')
    finally:
        await conn.close()
    return urllib.parse.urlsplit(server)._replace(path=f"/{POSTGRES_DATABASE}").geturl()


async def open_database(url: str) -> None:
    # Tortoise caches each model's prepared SQL by connection name ("default"), across
    # re-initialisations: SQLite's statements must not be reused on PostgreSQL.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(
        db_url=url,
        modules={"models": [__name__, "tortoise_auth.models.tokens"]},
    )
    await Tortoise.generate_schemas(safe=True)
    await seed_tokens()


async def user_tokens(db: DatabaseTokenBackend, count: int) -> list[str]:
    """One access token for each of `count` users (created once, reused by later runs)."""
    tokens = []
    for i in range(count):
        email = f"bench{i}@example.com"
        user = await User.filter(email=email).first()
        if user is None:
            user = await User.create(email=email, password="")
        pair = await db.create_tokens(str(user.pk))
        tokens.append(pair.access_token)
    return tokens


async def run_async_ops(names: list[str], timer: Timer, work_dir: str) -> list[str]:
    """Runs the async operations; returns the names of those that failed."""
    cfg = config()
    configure(cfg)
    jwt = JWTBackend(cfg)
    db = DatabaseTokenBackend(cfg)
    service = AuthService(cfg, backend=db)
    failed: list[str] = []

    async def one(name: str) -> None:
        calls = 1
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
            (token,) = await user_tokens(db, 1)
            f = lambda token=token: service.authenticate(token)  # noqa: E731
        elif name in ("service.authenticate_x16", "service.authenticate_x16_pg"):
            tokens = await user_tokens(db, CALLERS)
            calls = CALLERS

            def f(tokens: list[str] = tokens) -> Awaitable[Any]:
                return asyncio.gather(*(service.authenticate(t) for t in tokens))

        else:
            raise KeyError(name)
        emit(name, await timer.run_async(f), calls)

    async def guarded(name: str) -> None:
        try:
            await one(name)
        except Exception as e:  # noqa: BLE001 - reported, then the next operation runs
            log(f"{name}: failed: {type(e).__name__}: {e}")
            failed.append(name)

    for name in names:
        if name not in SQLITE_OPS and name not in POSTGRES_OPS:
            await guarded(name)
    for ops, url in (
        ([n for n in names if n in SQLITE_OPS], None),
        ([n for n in names if n in POSTGRES_OPS], "postgres"),
    ):
        if not ops:
            continue
        try:
            if url is None:
                os.makedirs(work_dir, exist_ok=True)
                path = os.path.join(work_dir, "tortoise-auth-bench.sqlite3")
                await open_database(f"sqlite://{path}")
            else:
                await open_database(await postgres_url())
        except Exception as e:  # noqa: BLE001
            log(f"{', '.join(ops)}: database setup failed: {type(e).__name__}: {e}")
            failed.extend(ops)
            await Tortoise.close_connections()
            continue
        try:
            for name in ops:
                await guarded(name)
        finally:
            await Tortoise.close_connections()
    return failed


def emit(name: str, result: tuple[float, int, int], calls: int = 1) -> None:
    """One JSON line; `calls` operations per timed iteration (the x16 ops) give time per call."""
    median, iterations, samples = result
    median, iterations = median / calls, iterations * calls
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
    failed = []
    for name in names:
        if name in sync:
            try:
                emit(name, timer.run_sync(sync[name]()))
            except Exception as e:  # noqa: BLE001 - reported, then the next operation runs
                log(f"{name}: failed: {type(e).__name__}: {e}")
                failed.append(name)
    async_names = [n for n in names if n in ASYNC_OPS]
    if async_names:
        failed += asyncio.run(run_async_ops(async_names, timer, args.work_dir))
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
