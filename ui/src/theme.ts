// Light and dark themes: the system's preference by default, a toggle that remembers the choice.
const KEY = "cairn-theme";
type Theme = "light" | "dark";

const systemDark = () => window.matchMedia("(prefers-color-scheme: dark)").matches;

export function currentTheme(): Theme {
  const saved = localStorage.getItem(KEY);
  if (saved === "light" || saved === "dark") return saved;
  return systemDark() ? "dark" : "light";
}

export function applyTheme(theme: Theme | null): void {
  if (theme) {
    localStorage.setItem(KEY, theme);
    document.documentElement.dataset.theme = theme;
  } else {
    const saved = localStorage.getItem(KEY);
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  }
}

export function themeToggle(): HTMLButtonElement {
  const btn = document.createElement("button");
  btn.type = "button";
  btn.className = "theme-toggle";
  const label = () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    btn.textContent = next === "dark" ? "Dark theme" : "Light theme";
    btn.setAttribute("aria-label", `Switch to the ${next} theme`);
  };
  btn.addEventListener("click", () => {
    applyTheme(currentTheme() === "dark" ? "light" : "dark");
    label();
  });
  label();
  return btn;
}
