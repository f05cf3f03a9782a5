"""The image generator backed by OpenRouter's chat-completions API, over httpx."""

from adapters.openrouter.client import build_http_client
from adapters.openrouter.generator import OpenRouterImageGenerator

__all__ = ["OpenRouterImageGenerator", "build_http_client"]
