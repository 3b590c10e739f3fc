"""Pledge pages: sign, confirm (code or link, always a POST), withdraw, by the numbers, widget."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, translate_url
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.core import is_ratelimited

from belonging.core.i18n import current_language
from belonging.core.provinces import Province
from belonging.lib import canada_map
from belonging.lib.emails import email_domain
from belonging.pledges import access, selectors, services
from belonging.core.forms import ConfirmCodeForm, started_token
from belonging.pledges.forms import SignForm
from belonging.pledges.models import Sector, SignerType

SESSION_EMAIL = "pledges:email"


@require_safe
def pledge_list(request: HttpRequest) -> HttpResponse:
    pledges = [(p, selectors.numbers_for_pledge(p)) for p in selectors.pledges_public()]
    return render(request, "pledges/list.html", {"pledges": pledges})


def _rate_limited(request: HttpRequest, email: str) -> str | None:
    """A message saying why the visitor is refused, or None; counts this attempt."""
    if is_ratelimited(request, group="pledge-sign-ip", key="ip", rate=settings.PLEDGE_RATE_PER_IP, increment=True):
        return _(
            "Too many signatures have come from your connection in a short time, so this one was not recorded. "
            "Please try again in an hour; your answers are still here."
        )
    domain = email_domain(email)
    if domain not in settings.PLEDGE_RATE_DOMAIN_EXEMPT and is_ratelimited(
        request,
        group="pledge-sign-domain",
        key=lambda _group, _request: domain,
        rate=settings.PLEDGE_RATE_PER_DOMAIN,
        increment=True,
    ):
        return _(
            "Too many signatures have come from email addresses at %(domain)s in a short time, so this one was "
            "not recorded. Please try again later; your answers are still here."
        ) % {"domain": domain}
    return None


def _sign_input(data: dict[str, object]) -> services.SignInput:
    fields = ("name", "email", "province", "postal_code", "signer_type", "organization_name", "sector")
    return services.SignInput(
        **{f: str(data[f]) for f in fields},
        show_name=bool(data["show_name"]),
        follow_up=bool(data["follow_up"]),
        language=current_language(),
    )


@require_http_methods(["GET", "HEAD", "POST"])
def pledge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    pledge = access.pledge_public(slug)
    refusal = None
    if request.method == "POST" and pledge.is_open:
        form = SignForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            # Idempotency key: the same rendered form sent again with the same email is a double submit
            # (another person's email on that form is not). Set only once the signature is saved.
            key = "pledges:submitted:" + hashlib.sha256(f"{data['started']}|{data['email'].lower()}".encode()).hexdigest()
            if cache.get(key) is None:
                refusal = _rate_limited(request, data["email"])
                if refusal is None:
                    services.signature_sign(pledge=pledge, data=_sign_input(data))
                    cache.set(key, True, 3600)
            if refusal is None:
                request.session[SESSION_EMAIL] = data["email"]
                return redirect("pledges:confirm_code", slug=pledge.slug)
        elif form.needs_new_started:
            form.refresh_started()
    else:
        form = SignForm(initial={"started": started_token()})
    status = 429 if refusal else (400 if form.is_bound and not form.is_valid() else 200)
    return render(
        request,
        "pledges/detail.html",
        {"pledge": pledge, "form": form, "refusal": refusal, "numbers": selectors.numbers_for_pledge(pledge)},
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def confirm_code(request: HttpRequest, slug: str) -> HttpResponse:
    pledge = access.pledge_public(slug)
    error = None
    if request.method == "POST":
        form = ConfirmCodeForm(request.POST)
        if form.is_valid():
            try:
                services.signature_confirm_with_code(
                    pledge=pledge, email=form.cleaned_data["email"], code=form.cleaned_data["code"]
                )
            except services.ConfirmError as exc:
                error = _confirm_error_message(exc.reason)
            else:
                request.session.pop(SESSION_EMAIL, None)
                return redirect("pledges:thanks", slug=pledge.slug)
    else:
        form = ConfirmCodeForm(initial={"email": request.session.get(SESSION_EMAIL, "")})
    status = 400 if (form.is_bound and (error or not form.is_valid())) else 200
    return render(
        request,
        "pledges/confirm_code.html",
        {"pledge": pledge, "form": form, "error": error, "days": settings.PLEDGE_CONFIRM_DAYS},
        status=status,
    )


def _confirm_error_message(reason: str) -> str:
    if reason == "expired":
        days = settings.PLEDGE_CONFIRM_DAYS
        return ngettext(
            "This signature was not confirmed within %(days)d day and has expired. Please sign again.",
            "This signature was not confirmed within %(days)d days and has expired. Please sign again.",
            days,
        ) % {"days": days}
    if reason == "attempts":
        return _(
            "Too many wrong codes were entered. Sign the pledge again with the same email to get a new code."
        )
    if reason == "withdrawn":
        return _("This signature was withdrawn or is no longer valid. You can sign the pledge again.")
    return _("That code does not match. Check the latest email we sent you and try again.")


@require_http_methods(["GET", "HEAD", "POST"])
def confirm_link(request: HttpRequest, public_id: uuid.UUID, token: str) -> HttpResponse:
    """GET shows a button; only the POST confirms, so mail scanners that follow links do nothing."""
    signature = access.signature_from_link(public_id, token)
    error = None
    if request.method == "POST":
        try:
            services.signature_confirm_with_link(signature=signature)
        except services.ConfirmError as exc:
            error = _confirm_error_message(exc.reason)
        else:
            request.session.pop(SESSION_EMAIL, None)
            return redirect("pledges:thanks", slug=signature.pledge.slug)
    return render(
        request,
        "pledges/confirm_link.html",
        {"signature": signature, "pledge": signature.pledge, "error": error},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def withdraw(request: HttpRequest, public_id: uuid.UUID, token: str) -> HttpResponse:
    signature = access.signature_from_link(public_id, token)
    if request.method == "POST" and signature.status != signature.Status.INVALIDATED:
        services.signature_withdraw(signature=signature)
        messages.success(request, _("Your signature is withdrawn and your personal information is erased."))
        return redirect("pledges:numbers", slug=signature.pledge.slug)
    return render(request, "pledges/withdraw.html", {"signature": signature, "pledge": signature.pledge})


@require_safe
def thanks(request: HttpRequest, slug: str) -> HttpResponse:
    pledge = access.pledge_public(slug)
    share_url = settings.SITE_URL + reverse("pledges:detail", kwargs={"slug": pledge.slug})
    return render(request, "pledges/thanks.html", {"pledge": pledge, "share_url": share_url})


def _map_context(numbers: selectors.Numbers) -> dict[str, object]:
    cmap = canada_map.load_map()
    classes = canada_map.classify(numbers.by_province)
    bounds = canada_map.class_bounds(numbers.by_province)
    names = dict(Province.choices)
    regions = [
        {
            "code": r.code,
            "name": names[r.code],
            "path": r.path,
            "label_x": r.label_x,
            "label_y": r.label_y,
            "count": numbers.by_province.get(r.code, 0),
            "klass": classes[r.code],
        }
        for r in cmap.regions
    ]
    legend = [{"klass": i, "low": lo, "high": hi} for i, (lo, hi) in enumerate(bounds)]
    return {"map": cmap, "regions": regions, "legend": legend}


def _cache_briefly(request: HttpRequest, response: HttpResponse, figures: selectors.Numbers) -> HttpResponse:
    """Let browsers and proxies keep "by the numbers" for what is left of the staleness budget."""
    if getattr(request, "_messages", None) and list(request._messages):  # a personal notice: never shared
        patch_cache_control(response, private=True, no_cache=True)
    else:
        patch_cache_control(response, public=True, max_age=figures.max_age_seconds())
    return response


@require_safe
def numbers(request: HttpRequest, slug: str) -> HttpResponse:
    pledge = access.pledge_public(slug)
    figures = selectors.numbers_for_pledge(pledge)
    paginator = Paginator(selectors.signatures_public_list(pledge), settings.PUBLIC_LIST_PAGE_SIZE)
    paginator.count = figures.public_names  # from the cached numbers: no COUNT(*) per request
    page = paginator.get_page(request.GET.get("page"))
    names = dict(Province.choices)
    context = {
        "pledge": pledge,
        "numbers": figures,
        "provinces": [(code, names[code], figures.by_province[code]) for code in Province.values],
        "types": [(label, figures.by_type[value]) for value, label in SignerType.choices],
        "sectors": [(label, figures.by_sector[value]) for value, label in Sector.choices],
        "page": page,
        "widget_url": settings.SITE_URL + reverse("pledges:widget", kwargs={"slug": pledge.slug}),
        "widget_url_other": settings.SITE_URL
        + translate_url(reverse("pledges:widget", kwargs={"slug": pledge.slug}), "en" if current_language() == "fr" else "fr"),
        **_map_context(figures),
    }
    return _cache_briefly(request, render(request, "pledges/numbers.html", context), figures)


@require_safe
@xframe_options_exempt
def widget(request: HttpRequest, slug: str) -> HttpResponse:
    pledge = access.pledge_public(slug)
    figures = selectors.numbers_for_pledge(pledge)
    response = render(request, "pledges/widget.html", {"pledge": pledge, "numbers": figures})
    response.embeddable = True  # type: ignore[attr-defined]
    return _cache_briefly(request, response, figures)
