"""The one-line summaries a manager reads on the page, in English or Spanish (``alerts.language``).

Templates take the alert's labels and values; times read as minutes and seconds, ratios as percentages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "service_level": "Service level in {queue} is {value:pct} over the last {window} (target {target:pct}).",
        "longest_wait": "A caller has been waiting {value:dur} in {queue} ({waiting} waiting now).",
        "abandon_rate": "{value:pct} of callers in {queue} hung up waiting over the last {window}.",
        "no_agent_available": "{waiting} callers waiting in {queue} and no agent available.",
        "all_agents_paused": "All {paused} agents of {queue} are paused.",
        "caller:loop": "A caller in {queue}, on the line {on_line:dur}, has come back to a department ({journey}).",
        "caller:pingpong": "A caller in {queue}, on the line {on_line:dur}, is being passed back and forth ({journey}).",
        "caller:bounced": "A caller in {queue}, on the line {on_line:dur}, has been transferred again and again ({journey}).",
        "caller:moh_over_limit": "A caller in {queue}, on the line {on_line:dur}, has heard the hold music {plays:n} times.",
        "caller:escalation_fake": "A caller asked for a supervisor in {queue} and got an agent who is not one ({on_line:dur} on the line).",
        "caller:escalation_unanswered": "A caller asked for a supervisor in {queue} and nobody answered ({on_line:dur} on the line).",
        "repeat_rate": "{value:pct} of calls to {queue} over the last {window} are callers calling again.",
        "misroute_rate": "{value:pct} of calls to {queue} over the last {window} were misrouted.",
        "source_down": "ccmon cannot read {source}.",
        "source_silent": "ccmon has heard nothing from {source} for {silent:dur}.",
        "internal_error": "ccmon failed on input from {source} and dropped it (failures so far: {count}): a bug, see its log.",
    },
    "es": {
        "service_level": "El nivel de servicio en {queue} es {value:pct} en los últimos {window} (objetivo {target:pct}).",
        "longest_wait": "Un cliente lleva {value:dur} esperando en {queue} ({waiting} en espera ahora).",
        "abandon_rate": "El {value:pct} de los clientes de {queue} colgó esperando en los últimos {window}.",
        "no_agent_available": "{waiting} clientes esperando en {queue} y ningún agente disponible.",
        "all_agents_paused": "Los {paused} agentes de {queue} están en pausa.",
        "caller:loop": "Un cliente en {queue}, {on_line:dur} en línea, ha vuelto a un departamento ({journey}).",
        "caller:pingpong": "Un cliente en {queue}, {on_line:dur} en línea, va y viene entre departamentos ({journey}).",
        "caller:bounced": "Un cliente en {queue}, {on_line:dur} en línea, ha sido transferido una y otra vez ({journey}).",
        "caller:moh_over_limit": "Un cliente en {queue}, {on_line:dur} en línea, ha oído la música de espera {plays:n} veces.",
        "caller:escalation_fake": "Un cliente pidió un supervisor en {queue} y le atendió un agente que no lo es ({on_line:dur} en línea).",
        "caller:escalation_unanswered": "Un cliente pidió un supervisor en {queue} y nadie contestó ({on_line:dur} en línea).",
        "repeat_rate": "El {value:pct} de las llamadas a {queue} en los últimos {window} son clientes que vuelven a llamar.",
        "misroute_rate": "El {value:pct} de las llamadas a {queue} en los últimos {window} se encaminaron mal.",
        "source_down": "ccmon no puede leer {source}.",
        "source_silent": "ccmon no recibe nada de {source} desde hace {silent:dur}.",
        "internal_error": "ccmon falló con la entrada de {source} y la descartó (fallos hasta ahora: {count}): un error de ccmon, véase su registro.",
    },
}


class _Value:
    """A value with the formats the templates use: ``dur`` (9m 20s), ``pct`` (85%), ``n`` (12.5 -> 12)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        v = self.value
        if spec == "dur" and isinstance(v, int | float):
            total = int(v)
            return f"{total // 60}m {total % 60}s" if total >= 60 else f"{total}s"
        if spec == "pct" and isinstance(v, int | float):
            return f"{v * 100:.0f}%"
        if spec == "n" and isinstance(v, int | float):
            return f"{int(v)}"
        return str(v)


def summary(kind: str, language: str, labels: Mapping[str, str], values: Mapping[str, Any]) -> str:
    key = f"caller:{labels['reason']}" if kind == "caller" else kind
    template = TEMPLATES[language].get(key) or TEMPLATES["en"][key]
    fields = {k: _Value(v) for k, v in {**labels, **values}.items()}
    return template.format_map(fields)
