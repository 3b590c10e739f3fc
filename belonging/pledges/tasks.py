"""Background work for pledges: the confirmation and reminder emails."""

from __future__ import annotations

from django_tasks import task


@task()
def send_confirmation_code(signature_id: int) -> bool:
    """Issue a fresh code for a pending signature and email it; False if nothing was sent."""
    from belonging.pledges import emails, services
    from belonging.pledges.models import Signature

    code = services.signature_issue_code(signature_id=signature_id)
    if code is None:
        return False
    emails.send_confirmation(Signature.objects.select_related("pledge").get(pk=signature_id), code)
    return True


@task()
def send_already_signed(signature_id: int) -> bool:
    """Tell a confirmed signer who signed again that their signature already counts."""
    from belonging.pledges import emails
    from belonging.pledges.models import Signature

    signature = Signature.objects.select_related("pledge").filter(pk=signature_id).first()
    if signature is None or signature.status != Signature.Status.CONFIRMED:
        return False
    emails.send_already_signed(signature)
    return True
