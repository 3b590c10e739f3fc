"""Organizers' input for imports and population margins; messages in the visitor's language."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from belonging.measure import instrument

MAX_COLUMN = 100
_PAIRS = re.compile(r"[;\n]")


def format_values(values: dict[str, str]) -> str:
    """A value map as the organizer writes it: ``1=very_strong; 2=somewhat_strong; 8=``."""
    return "; ".join(f"{k}={v}" for k, v in values.items())


def replicate_spec(names: list[str]) -> str:
    """Replicate column names as the form shows them: their prefix when they are PREFIX1…PREFIXn."""
    if not names:
        return ""
    match = re.match(r"^(.*?)(\d+)$", names[0])
    if match:
        prefix = match.group(1)
        if names == [f"{prefix}{i}" for i in range(1, len(names) + 1)]:
            return prefix
    return ", ".join(names)


class ImportForm(forms.Form):
    """The file, its weights, and which column answers which question (with value maps)."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 text with a header row, values separated by commas or semicolons. Browsers do not keep a "
            "chosen file: choose it again after checking it."
        ),
        error_messages={"required": _("Choose the CSV file to import."), "empty": _("The chosen file is empty.")},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    weight_column = forms.CharField(
        label=_("Final weight column"),
        required=False,
        max_length=MAX_COLUMN,
        help_text=_("For example WTS_M. Leave empty when the file has no weights: every row then counts once."),
    )
    replicate_columns = forms.CharField(
        label=_("Bootstrap replicate weight columns"),
        required=False,
        max_length=5000,
        help_text=_(
            "A prefix, for example BSW for BSW1, BSW2 … BSW500, or the column names separated by commas. Leave "
            "empty when the file has none."
        ),
    )

    def __init__(self, *args: Any, questionnaire: instrument.Questionnaire, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.questionnaire = questionnaire
        for item in questionnaire.items:
            self.fields[f"column_{item.id}"] = forms.CharField(
                label=_("Column for %(item)s") % {"item": item.id},
                required=False,
                max_length=MAX_COLUMN,
                help_text=_("Empty: the column named %(item)s, if the file has one.") % {"item": item.id},
            )
            codes = ", ".join(code for code, _label in item.choices)
            self.fields[f"values_{item.id}"] = forms.CharField(
                label=_("Values of %(item)s in the file") % {"item": item.id},
                required=False,
                max_length=2000,
                help_text=_("Answers: %(codes)s. Values that are already answers need no entry.") % {"codes": codes},
            )

    def item_groups(self) -> list[dict[str, Any]]:
        """For the template: each page of the questionnaire with, per item, its two fields."""
        return [
            {
                "page": page,
                "items": [
                    {"item": item, "column": self[f"column_{item.id}"], "values": self[f"values_{item.id}"]}
                    for item in page.items
                ],
            }
            for page in self.questionnaire.pages
        ]

    def clean_weight_column(self) -> str:
        return self.cleaned_data["weight_column"].strip()

    def clean_replicate_columns(self) -> str:
        return self.cleaned_data["replicate_columns"].strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for item in self.questionnaire.items:
            name = f"values_{item.id}"
            if name in data:
                data[name] = self._values(name, data[name], item)
            column = f"column_{item.id}"
            if column in data:
                data[column] = data[column].strip()
        return data

    def _values(self, name: str, text: str, item: instrument.Item) -> dict[str, str]:
        found: dict[str, str] = {}
        for pair in _PAIRS.split(text or ""):
            pair = pair.strip()
            if not pair:
                continue
            if "=" not in pair:
                self.add_error(
                    name,
                    _("Write each value as value=answer, separated by semicolons (“%(pair)s” has no “=”).")
                    % {"pair": pair},
                )
                return {}
            value, _sep, code = (p.strip() for p in pair.partition("="))
            if not value:
                self.add_error(name, _("“%(pair)s” has no value before the “=”.") % {"pair": pair})
                return {}
            if value in found:
                self.add_error(name, _("The value %(value)s is given twice.") % {"value": value})
                return {}
            if code and code not in item.codes:
                self.add_error(
                    name,
                    _("“%(code)s” is not an answer to this question. Its answers are: %(codes)s.")
                    % {"code": code, "codes": ", ".join(c for c, _label in item.choices)},
                )
                return {}
            found[value] = code
        return found

    def mapping(self) -> dict[str, dict[str, Any]]:
        """Item id → {"column", "values"} for the items the organizer said something about."""
        data = self.cleaned_data
        found = {}
        for item in self.questionnaire.items:
            column = data.get(f"column_{item.id}") or ""
            values = data.get(f"values_{item.id}") or {}
            if column or values:
                found[item.id] = {"column": column or item.id, "values": values}
        return found


def initial_from_mapping(mapping: dict[str, Any]) -> dict[str, str]:
    """The form's initial values from an earlier import's ``ImportBatch.mapping``."""
    initial = {
        "weight_column": mapping.get("weight", ""),
        "replicate_columns": replicate_spec(list(mapping.get("replicates", []))),
    }
    for item_id, chosen in (mapping.get("items") or {}).items():
        initial[f"column_{item_id}"] = chosen.get("column", "")
        initial[f"values_{item_id}"] = format_values(chosen.get("values") or {})
    return initial


class MarginsForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file of population margins"),
        help_text=_(
            "Columns variable, category and population, with a header row; for example “province,ON,15996989”. "
            "It replaces the wave’s margins."
        ),
        error_messages={"required": _("Choose the CSV file of margins."), "empty": _("The chosen file is empty.")},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
