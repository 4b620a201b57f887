// Turbo Studio's page script (run once by Gradio's `launch(js=...)`): keys, the queue position,
// errors and the browser tab's title in the status line's words, focus after Stop, and small
// accessibility repairs of Gradio's markup. The server decides everything else; this only reads the page and clicks its buttons.
() => {
  const TITLE = document.title;
  const RUNS = {  // per tab: the button that starts its run, the one that stops it, its status line
    generate: { start: "#generate-button", stop: "#stop-button", status: "#status" },
    compare: { start: "#compare-button", stop: "#compare-stop-button", status: "#compare-status" },
  };
  const LABELS = {  // buttons' accessible names and tooltips (Gradio buttons take neither)
    "random-seed": ["New random seed", "Draw a random seed into the box now"],
    "reuse-seed": ["Reuse last seed", "Put the last image's seed back into the box"],
    "stop-button": ["Stop", "Stop (Escape)"],
    "compare-stop-button": ["Stop", "Stop (Escape)"],
    "generate-button": ["Generate", "Generate (Enter in the prompt, or Ctrl+Enter anywhere)"],
    "compare-button": ["Compare", "Compare (Enter in the prompt, or Ctrl+Enter anywhere)"],
  };
  const BUSY = "currently busy";  // in Gradio's message when its queue is full
  const queueSize = document.querySelector('meta[name="turbo-studio-queue-size"]')?.content;

  const shown = (selector) => {
    const element = document.querySelector(selector);
    return element && element.offsetParent !== null ? element : null;
  };
  const currentTab = () => document.querySelector('#tabs [role="tab"][aria-selected="true"]')?.dataset.tabId;
  // Compare runs Compare; every other tab runs Generate (PNG info shows its result in Generate).
  const runOfTab = () => RUNS[currentTab() === "compare" ? "compare" : "generate"];
  const ordinal = (n) => n + (["th", "st", "nd", "rd"][(n % 100 - 20) % 10] || ["th", "st", "nd", "rd"][n % 100] || "th");

  function start() {
    if (currentTab() === "png-info") document.querySelector('#tabs [data-tab-id="generate"]')?.click();
    shown(runOfTab().start)?.click();
  }

  function stop() {
    for (const run of Object.values(RUNS)) {
      const button = shown(run.stop);
      if (!button) continue;
      button.click();
      return true;
    }
    return false;
  }

  // After Stop the Stop button goes: focus the button that starts a run again once it is back.
  function refocus(run) {
    const until = performance.now() + 15000;
    const wait = () => {
      const button = shown(run.start);
      if (button && !button.disabled) button.focus();
      else if (performance.now() < until) requestAnimationFrame(wait);
    };
    requestAnimationFrame(wait);
  }

  // On a phone the results are below the settings: bring the status line into view.
  function reveal(run) {
    const status = document.querySelector(run.status);
    if (!status) return;
    const box = status.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) status.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  document.addEventListener("keydown", (event) => {
    const enter = event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing;
    if (enter && (event.ctrlKey || event.metaKey || event.target.closest?.("#prompt textarea"))) {
      event.preventDefault();
      event.stopPropagation();
      start();
    } else if (event.key === "Escape" && stop()) {
      event.preventDefault();
    }
  }, true);

  document.addEventListener("click", (event) => {
    for (const run of Object.values(RUNS)) {
      if (event.target.closest?.(run.start)) reveal(run);
      if (event.target.closest?.(run.stop)) refocus(run);
    }
  }, true);

  // A slider clamps a number typed out of its range when its box loses focus, silently: keep what
  // was typed, so its note (ui/settings.py) and Generate say what is wrong with it.
  window.addEventListener("blur", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.dataset.testid !== "number-input" || box.value === "") return;
    const value = Number(box.value);
    if (value < Number(box.min) || value > Number(box.max)) event.stopPropagation();
  }, true);

  // The wait in line: the position from Gradio's own queue events (its progress display, hidden by
  // style.css), the time from the running runs' own times left, which the server tells about once a
  // second (ui/runs.py). Gradio's estimate, the average past run, said "about 1 s" behind a long run.
  let asked = 0;
  function waitText(position) {
    if (performance.now() - asked > 1000) {
      asked = performance.now();
      document.getElementById("queue-wait-ask")?.click();
    }
    const told = document.querySelector("#queue-wait .queue-wait")?.dataset.left;
    const left = told ? JSON.parse(told) : [];  // seconds, soonest first; null before a run's first step
    const about = (seconds) => `about ${Math.max(1, Math.round(seconds))} s`;
    const text = `In line: ${ordinal(position)}`;
    // With one run per slot, the n-th in line starts when the n-th soonest of them ends.
    if (typeof left[position - 1] === "number") return `${text} · starts in ${about(left[position - 1])}`;
    if (position > left.length && typeof left[0] === "number") return `${text} · the run going now ends in ${about(left[0])}`;
    return text;
  }

  function showQueue(run) {
    const line = document.querySelector(`${run.status} .run-status`);
    const tracker = document.querySelector(`${run.status} [data-testid="status-tracker"] .progress-text`);
    const queued = tracker?.textContent.match(/queue:\s*(\d+)\/(\d+)/);
    if (!line || !queued || line.dataset.state === "running") return;
    const text = waitText(Number(queued[1]));
    if (line.dataset.state !== "queued" || line.textContent !== text) {
      line.dataset.state = "queued";
      line.replaceChildren(Object.assign(document.createElement("span"), { textContent: text }));
    }
  }

  // Errors go in the status line too (a toast besides): the message of each new error toast, in
  // the line of the run that is going, or else of the current tab's run.
  function showErrors() {
    for (const message of document.querySelectorAll('[data-testid="toast-text"].error:not([data-seen])')) {
      message.dataset.seen = "true";
      const lines = Object.values(RUNS).map((run) => document.querySelector(`${run.status} .run-status`));
      const line = lines.find((element) => ["running", "queued"].includes(element?.dataset.state))
        ?? document.querySelector(`${runOfTab().status} .run-status`);
      if (!line) continue;
      const waiting = queueSize ? `${queueSize} runs are waiting, the most this server takes` : "no one more can wait";
      const text = message.textContent.includes(BUSY)
        ? `The queue is full: ${waiting}. Try again in a minute.`
        : message.textContent.trim();
      line.dataset.state = "failed";
      line.replaceChildren(Object.assign(document.createElement("span"), { textContent: text }));
    }
  }

  function showTitle() {
    const running = Object.values(RUNS)
      .map((run) => document.querySelector(`${run.status} .run-status[data-state="running"][data-title]`))
      .find(Boolean);
    const title = running ? `[${running.dataset.title}] ${TITLE}` : TITLE;
    if (document.title !== title) document.title = title;
  }

  function repairAccessibility() {
    for (const [id, [name, tooltip]] of Object.entries(LABELS)) {
      const button = document.getElementById(id);
      if (button && button.title !== tooltip) {
        button.title = tooltip;
        button.setAttribute("aria-label", name);
      }
    }
    // The aspect presets as one radio group: one tab stop, arrow keys move within it.
    const aspect = document.querySelector("#aspect .wrap");
    if (aspect && aspect.getAttribute("role") !== "radiogroup") {
      aspect.setAttribute("role", "radiogroup");
      aspect.setAttribute("aria-label", "Aspect ratio");
    }
    for (const radio of document.querySelectorAll('#aspect input[type="radio"]')) {
      if (radio.name !== "aspect") radio.name = "aspect";
    }
    // Gradio names some buttons with words they do not show: name them by what they show.
    for (const element of document.querySelectorAll(".upload-container[aria-label], .thumbnail-item[aria-label]")) {
      const text = element.textContent.replace(/\s+/g, " ").trim();
      if (text && element.getAttribute("aria-label") !== text) element.setAttribute("aria-label", text);
    }
    // Gradio's empty placeholders carry an aria-label on a plain div, which names nothing.
    for (const element of document.querySelectorAll("div[aria-label]:not([role])")) element.removeAttribute("aria-label");
  }

  // The comparison's columns (one per axis value), its row headers (seeds) beside its first column
  // and its column headers (axis values) above its first row, drawn by assets/style.css from these
  // attributes; the server sends them in #comparison-headers.
  function labelGrid() {
    const headers = document.querySelector("#comparison-headers .grid-headers");
    const rows = headers ? JSON.parse(headers.dataset.rows) : [];
    const columns = headers ? JSON.parse(headers.dataset.columns) : [];
    const gallery = document.getElementById("comparison");
    const count = headers?.dataset.count;
    if (gallery && count && gallery.style.getPropertyValue("--comparison-columns") !== count) {
      gallery.style.setProperty("--comparison-columns", count);
    }
    const items = gallery ? [...gallery.querySelectorAll(".grid-container > .gallery-item")] : [];
    const labelled = columns.length > 0 && items.length === rows.length * columns.length;
    const set = (element, name, value) => {
      if (value === undefined) element.removeAttribute(name);
      else if (element.getAttribute(name) !== value) element.setAttribute(name, value);
    };
    items.forEach((item, index) => {
      set(item, "data-row", labelled && index % columns.length === 0 ? rows[index / columns.length] : undefined);
      set(item, "data-column", labelled && index < columns.length ? columns[index] : undefined);
    });
    if (!gallery) return;
    gallery.classList.toggle("labelled", labelled);
    const width = `${Math.max(0, ...rows.map((row) => row.length)) * 0.6 + 1}em`;
    if (gallery.style.getPropertyValue("--row-header-width") !== width) gallery.style.setProperty("--row-header-width", width);
  }

  function refresh() {
    scheduled = false;
    repairAccessibility();
    labelGrid();
    for (const run of Object.values(RUNS)) showQueue(run);
    showErrors();
    showTitle();
  }

  let scheduled = false;
  new MutationObserver(() => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(refresh);
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  refresh();
}
