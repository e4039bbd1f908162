"""Operator tools: producing events, inspecting and replaying dead letters."""
