"""Views: parse the request, call one service, render. Everything private is scoped to its owner."""
