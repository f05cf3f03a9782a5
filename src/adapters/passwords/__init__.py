"""Password hashing adapter: Argon2id for new hashes, the seed's PBKDF2 still readable."""

from adapters.passwords.argon2_hasher import Argon2PasswordHasher

__all__ = ["Argon2PasswordHasher"]
