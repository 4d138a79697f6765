// /login: a login and password, GitHub (when the server has it configured), or an API token (how the
// first administrator gets in); each is exchanged for the session cookie.
import { ApiError, api, signIn } from "../api.ts";
import { errorBox, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { navigate } from "../router.ts";

interface SignInMethods {
  password: boolean;
  token: boolean;
  /** No user has a password yet: the first admin's token is the way in. */
  token_first?: boolean;
  github: { url: string } | null;
}

/** Why GitHub sign-in came back refused (server/routes/auth-github.ts GithubRefusal): fixed text only. */
const GITHUB_REFUSALS: Record<string, string> = {
  denied: "GitHub did not allow the sign-in: it was cancelled or refused there. Try again.",
  state: "That sign-in started in another browser or took too long. Start again from here.",
  code: "GitHub did not accept the sign-in. Start again from here.",
  unavailable: "GitHub's API did not answer. Try again later, or sign in another way.",
  not_linked:
    "Your GitHub account is not linked to a Cairn user. Ask an administrator to link your GitHub login.",
};

/** Where to go once signed in: `?next=` when it is a path on this site. */
function nextPath(): string {
  const next = new URLSearchParams(location.search).get("next");
  return next?.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/** A refused sign-in as a person reads it; a rate limit says how long to wait. */
function signInError(err: unknown): HTMLElement {
  if (err instanceof ApiError && err.status === 429) {
    const wait = Number(err.details?.retry_after);
    return h(
      "p.error",
      { role: "alert", "data-code": "too_many_attempts" },
      "Too many failed sign-ins for this login. ",
      Number.isFinite(wait) && wait > 0
        ? `Try again in ${wait >= 120 ? `${Math.ceil(wait / 60)} minutes` : `${wait} seconds`}.`
        : "Try again later.",
    );
  }
  return errorBox(err);
}

/** Submits `form` through `send`, showing its error inline; navigates on success. */
function wire(
  form: HTMLFormElement,
  button: HTMLButtonElement,
  status: HTMLElement,
  focusOnError: HTMLInputElement,
  send: () => Promise<unknown>,
): void {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    try {
      await send();
      navigate(nextPath(), { replace: true });
    } catch (err) {
      status.replaceChildren(signInError(err));
      focusOnError.focus();
      focusOnError.select();
    } finally {
      button.disabled = false;
    }
  });
}

function passwordForm(): { form: HTMLFormElement; first: HTMLInputElement } {
  const login = h("input#login", {
    name: "login",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    required: true,
  });
  const password = h("input#password", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const status = h("div.form-status", { "aria-live": "polite" });
  const button = h("button.primary", { type: "submit" }, "Sign in");
  const form = h(
    "form.card.stack.password-form",
    { "aria-labelledby": "password-title" },
    h("h2#password-title", null, "With your login"),
    h("label", { for: "login" }, "Login"),
    login,
    h("label", { for: "password" }, "Password"),
    password,
    button,
    status,
  );
  wire(form, button, status, password, () => signIn({ login: login.value.trim(), password: password.value }));
  return { form, first: login };
}

function tokenForm(): { form: HTMLFormElement; first: HTMLInputElement } {
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
  const button = h("button.primary", { type: "submit" }, "Sign in with token");
  const form = h(
    "form.card.stack.login-form",
    { "aria-labelledby": "token-title" },
    h("h2#token-title", null, "With an API token"),
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
  wire(form, button, status, input, () => signIn({ token: input.value.trim() }));
  return { form, first: input };
}

export function loginPage(root: HTMLElement): void {
  setTitle("Sign in");
  const github = h("div.github-sign-in");
  const refused = new URLSearchParams(location.search).get("github_error");
  const githubError =
    refused &&
    h(
      "p.error.github-error",
      { role: "alert" },
      GITHUB_REFUSALS[refused] ?? "GitHub sign-in did not complete. Try again.",
    );
  const pw = passwordForm();
  const token = tokenForm();
  token.form.id = "token-form";
  // The token form is always one click away, wherever it sits on the page.
  const toToken = h("a.use-token", { href: "#token-form" }, "Sign in with an API token instead");
  toToken.addEventListener("click", (e) => {
    e.preventDefault();
    token.form.scrollIntoView({ block: "nearest" });
    token.first.focus();
  });
  const or = h("p.or.muted", { "aria-hidden": "true" }, "or");
  const page = h(
    "div.login-page",
    null,
    h("h1", null, "Sign in to Cairn"),
    github,
    toToken,
    pw.form,
    or,
    token.form,
  );
  root.replaceChildren(page);
  pw.first.focus();
  // GitHub's button only when the server can do it; a password form only where the server hashes.
  api<SignInMethods>("/auth/methods")
    .then((m) => {
      pw.form.hidden = !m.password;
      const tokenFirst = Boolean(m.token_first) || !m.password;
      if (tokenFirst) {
        // Before anyone has a password: the token form leads, the password form follows it.
        page.insertBefore(token.form, pw.form);
        page.insertBefore(or, pw.form);
        toToken.hidden = true;
        if (document.activeElement === pw.first || document.activeElement === document.body)
          token.first.focus();
      }
      if (!m.github) return;
      github.replaceChildren(
        ...(githubError ? [githubError] : []),
        h(
          "a.button.github",
          { href: "/api/v1/auth/github", "data-github-url": m.github.url },
          "Sign in with GitHub",
        ),
        h("p.muted", null, "Your GitHub login must be linked to a Cairn user by an administrator."),
      );
    })
    .catch(() => {});
}
