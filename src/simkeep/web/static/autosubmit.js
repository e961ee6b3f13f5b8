// Posts a payment gateway's signed form as soon as the page is read: the payer goes on to
// the cashier without a second click. Without scripts, the form's own button does it.
"use strict";
document.querySelectorAll("form[data-autosubmit]").forEach((form) => form.submit());
