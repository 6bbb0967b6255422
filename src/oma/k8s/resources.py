"""Typed handles for oma's custom resources (generic lightkube resources built from the model constants)."""

from __future__ import annotations

from lightkube.generic_resource import create_namespaced_resource

from oma.models import videojob

VideoJobResource = create_namespaced_resource(videojob.GROUP, videojob.VERSION, videojob.KIND, videojob.PLURAL)
