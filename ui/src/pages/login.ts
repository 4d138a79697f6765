// /login: paste an API token (how the first administrator gets in) for a session cookie.
import { signIn } from "../api.ts";
import { errorBox, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { navigate } from "../router.ts";

export function loginPage(root: HTMLElement): void {
  setTitle("Sign in");
  const input = h("input#token", {
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "cairn_pat_…",
    "aria-describedby": "token-help",
  });
  const status = h("div.form-status", { "aria-live": "polite" });
  const button = h("button.primary", { type: "submit" }, "Sign in");
  const form = h(
    "form.card.login-form",
    { "aria-labelledby": "login-title" },
    h("h1#login-title", null, "Sign in to Cairn"),
    h("label", { for: "token" }, "API token"),
    input,
    h(
      "p#token-help.muted",
      null,
      "Paste a personal API token. The first administrator's token is written by the server on its first start to ",
      h("code", null, "<data dir>/initial-admin-token"),
      " (by default ",
      h("code", null, "data/initial-admin-token"),
      ", readable only by the server's user): ",
      h("code", null, "cat data/initial-admin-token"),
      ". The token is exchanged for a 12-hour session cookie and is not stored by the browser.",
    ),
    button,
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    try {
      await signIn(input.value.trim());
      const next = new URLSearchParams(location.search).get("next");
      navigate(next?.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
    } catch (err) {
      status.replaceChildren(errorBox(err));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  root.replaceChildren(form);
  input.focus();
}
