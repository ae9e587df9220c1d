#!/usr/bin/env python3
"""tortoise-auth side of `cargo xtask bench --http`: `GET /auth/me` through its Starlette
integration (`AuthenticationMiddleware` with `TokenAuthBackend`, and `login_required`).

Set-up, once per run, in a fresh SQLite file (prints `TOKEN <access token>` on stdout):

    python http_app.py setup db|jwt DATABASE_FILE

Serving (the driver starts uvicorn on this module; BENCH_DB and BENCH_MODE say which file and
which token backend, as given to the set-up):

    BENCH_DB=... BENCH_MODE=db python -m uvicorn http_app:app --app-dir bench --port P

`db` is tortoise-auth's default `DatabaseTokenBackend` (one token lookup and one user lookup
per request); `jwt` its `JWTBackend` (HS256, no blacklist; the user is still read, as
`AuthService.authenticate` does). The answer is the JSON testudo-axum's `/me` gives.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise import Tortoise

from tortoise_auth import (
    AbstractUser,
    AuthConfig,
    AuthService,
    DatabaseTokenBackend,
    JWTBackend,
    configure,
)
from tortoise_auth.integrations.starlette import TokenAuthBackend, login_required

SIGNING_SECRET = "an-http-bench-signing-secret-of-32-bytes"
JWT_SECRET = "an-http-bench-jwt-secret-of-at-least-32-bytes"


class User(AbstractUser):
    """The application's user model."""

    class Meta:
        table = "bench_http_users"


def service(mode: str) -> AuthService:
    cfg = AuthConfig(user_model="models.User", signing_secret=SIGNING_SECRET, jwt_secret=JWT_SECRET)
    configure(cfg)
    backend: Any = JWTBackend(cfg) if mode == "jwt" else DatabaseTokenBackend(cfg)
    return AuthService(cfg, backend=backend)


async def open_database(path: str) -> None:
    # The global fallback: request tasks see the connection the lifespan task opened
    # (Tortoise 1.x keeps its state in a context variable otherwise).
    await Tortoise.init(
        db_url=f"sqlite://{path}",
        modules={"models": [__name__, "tortoise_auth.models.tokens"]},
        _enable_global_fallback=True,
    )


async def setup(mode: str, path: str) -> str:
    await open_database(path)
    await Tortoise.generate_schemas(safe=True)
    auth = service(mode)
    user = await User.create(email="bench@example.com", password="")
    pair = await auth.backend.create_tokens(str(user.pk))
    await Tortoise.close_connections()
    return pair.access_token


@login_required
async def me(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {"id": str(user.pk), "email": user.email, "is_verified": bool(user.is_verified)}
    )


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    await open_database(os.environ["BENCH_DB"])
    yield
    await Tortoise.close_connections()


def make_app() -> Starlette:
    mode = os.environ.get("BENCH_MODE", "db")
    return Starlette(
        routes=[Route("/auth/me", me)],
        middleware=[Middleware(AuthenticationMiddleware, backend=TokenAuthBackend(service(mode)))],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "setup" or sys.argv[2] not in ("db", "jwt"):
        print("usage: http_app.py setup db|jwt DATABASE_FILE", file=sys.stderr)
        sys.exit(2)
    print(f"TOKEN {asyncio.run(setup(sys.argv[2], sys.argv[3]))}", flush=True)
else:
    app = make_app() if "BENCH_DB" in os.environ else None
