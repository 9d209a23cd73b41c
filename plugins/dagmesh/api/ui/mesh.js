// The Mesh page: the domain graph by layer, and one domain's ports, builds and checks.
// It reads only dagmesh's REST API, with the Airflow login of the page (its cookie).
// Every value from the API is put in the page as text, never as HTML.
"use strict";

const API = "/dagmesh/api/v1";
const SVG = "http://www.w3.org/2000/svg";
const BOX = { width: 168, height: 46, gapX: 56, gapY: 22, top: 34, left: 10 };

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

async function get(path) {
  const response = await fetch(API + path, { credentials: "same-origin" });
  if (response.status === 401 || response.status === 403) {
    throw new Error("not signed in to Airflow (or no access): sign in, then reload this page");
  }
  if (response.status === 503) {
    const retry = Number(response.headers.get("Retry-After") || 5);
    throw Object.assign(new Error("the warehouse is busy; trying again"), { retry });
  }
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function say(text) {
  document.getElementById("status").textContent = text;
}

function when(value) {
  return value ? value.replace("T", " ").slice(0, 19) + " UTC" : "–";
}

// A long value (a contract's column listing) shortened, the whole of it on hover.
function clipped(text, length = 60) {
  return text.length > length ? el("span", { title: text }, text.slice(0, length - 1) + "…") : text;
}

function stateBadge(state) {
  return el("span", { class: `state ${state}`, "data-state": state }, state.replaceAll("_", " "));
}

// Airflow's own pages for a domain's DAG and a run, opened in the whole window.
function airflowLink(text, path) {
  return el("a", { href: path, target: "_top" }, text);
}

// ------------------------------------------------------------------ the graph

function layout(nodes) {
  const layers = [];
  for (const node of nodes) if (!layers.includes(node.layer)) layers.push(node.layer);
  const place = {};
  const rows = {};
  for (const node of nodes) {
    const column = layers.indexOf(node.layer);
    const row = (rows[column] = (rows[column] ?? -1) + 1);
    place[node.name] = {
      x: BOX.left + column * (BOX.width + BOX.gapX),
      y: BOX.top + row * (BOX.height + BOX.gapY),
    };
  }
  return { layers, place, rows: Math.max(0, ...Object.values(rows)) + 1 };
}

function drawGraph(lineage, selected) {
  const { layers, place, rows } = layout(lineage.nodes);
  const width = BOX.left * 2 + layers.length * BOX.width + (layers.length - 1) * BOX.gapX;
  const height = BOX.top + rows * (BOX.height + BOX.gapY);
  const svg = el("svg:svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  layers.forEach((layer, i) => {
    svg.append(el("svg:text", { class: "layer", x: BOX.left + i * (BOX.width + BOX.gapX), y: 16 }, layer || "no layer"));
  });
  for (const edge of lineage.edges) {
    const from = place[edge.upstream];
    const to = place[edge.consumer];
    if (!from || !to) continue;
    const x1 = from.x + BOX.width, y1 = from.y + BOX.height / 2, x2 = to.x, y2 = to.y + BOX.height / 2;
    const bend = (x2 - x1) / 2;
    svg.append(
      el("svg:path", { class: `edge ${edge.via}`, d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}` },
        el("svg:title", {}, `${edge.port} → ${edge.consumer} (via ${edge.via})`)),
    );
  }
  for (const node of lineage.nodes) {
    const { x, y } = place[node.name];
    const version = node.published ? `v${node.published.version}` : "never certified";
    const group = el(
      "svg:g",
      {
        class: `domain ${node.state}${node.name === selected ? " selected" : ""}`,
        "data-domain": node.name,
        "data-state": node.state,
        tabindex: 0,
        role: "button",
        "aria-label": `${node.name}: ${node.state}`,
        transform: `translate(${x},${y})`,
      },
      el("svg:rect", { width: BOX.width, height: BOX.height }),
      el("svg:text", { x: 12, y: 19 }, node.name),
      el("svg:text", { class: "sub", x: 12, y: 36 }, `${node.state.replaceAll("_", " ")} · ${version}`),
    );
    group.addEventListener("click", () => select(node.name));
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") select(node.name);
    });
    svg.append(group);
  }
  document.getElementById("graph").replaceChildren(svg);
}

// ------------------------------------------------------------------ one domain

function table(headers, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
  );
}

function portsSection(domain) {
  return domain.ports.map((port) =>
    el(
      "div",
      { "data-port": port.name },
      el("h3", {}, `port ${port.name} · contract v${port.version}`),
      el(
        "p",
        { class: "muted" },
        port.published ? `published as port v${port.published.port_version}, ${port.published.row_count} rows` : "not published yet",
        " · primary key ",
        port.primary_key.join(", ") || "–",
        " · ",
        el("a", { href: `${API}/domains/${encodeURIComponent(domain.name)}/contracts/${encodeURIComponent(port.name)}?format=yaml`, target: "_blank" }, "ODCS contract"),
      ),
      table(["column", "type", "tests"], port.columns.map((c) => [c.name, c.type, c.tests.join(", ") || "–"])),
    ),
  );
}

function checksSection(build) {
  if (!build) return [];
  const failed = build.checks.filter((c) => c.status !== "pass");
  const rows = [...failed, ...build.checks.filter((c) => c.status === "pass")];
  return [
    el("h3", {}, `checks of build ${build.build_id}`),
    failed.length
      ? el("p", { class: "fail" }, `${failed.length} check(s) did not pass`)
      : el("p", { class: "pass" }, "every check passed"),
    build.failure ? el("p", { class: "fail", "data-failure": "" }, build.failure.split("\n")[0]) : null,
    el(
      "div",
      { "data-checks": "" },
      table(
        ["check", "severity", "status", "observed", "expected", "sample"],
        rows.map((c) => [c.test_id, c.severity, el("span", { class: c.status }, c.status), clipped(c.observed), clipped(c.threshold), clipped(c.sample || "")]),
      ),
    ),
  ];
}

function inputsSection(domain) {
  const certification = domain.published;
  if (!domain.inputs.length) return [];
  const used = certification ? certification.lineage : {};
  return [
    el("h3", {}, "inputs"),
    table(
      ["port", "via", "built from"],
      domain.inputs.map((i) => [i.port, i.via, used[i.upstream_domain] ? `${i.upstream_domain} v${used[i.upstream_domain]}` : "–"]),
    ),
    Object.keys(domain.health.behind).length
      ? el("p", { class: "warn" }, "out of sync: newer versions published of ", Object.keys(domain.health.behind).join(", "))
      : null,
  ];
}

function buildsSection(domain, builds) {
  return [
    el("h3", {}, "latest builds"),
    table(
      ["build", "state", "started", "tests", "run"],
      builds.items.map((b) => [
        b.build_id,
        stateBadge(b.state),
        when(b.started_at),
        `${b.tests.passed} passed, ${b.tests.failed} failed` + (b.tests.warned ? `, ${b.tests.warned} warn` : ""),
        b.run_id ? airflowLink("run", `/dags/${encodeURIComponent(b.dag_id)}/runs/${encodeURIComponent(b.run_id)}`) : "–",
      ]),
    ),
  ];
}

async function select(name) {
  state.selected = name;
  history.replaceState(null, "", `#${encodeURIComponent(name)}`);
  if (state.lineage) drawGraph(state.lineage, name);
  const detail = document.getElementById("detail");
  detail.hidden = false;
  try {
    const domain = await get(`/domains/${encodeURIComponent(name)}`);
    const builds = await get(`/domains/${encodeURIComponent(name)}/builds?limit=5`);
    const latest = domain.latest_build ? await get(`/builds/${encodeURIComponent(domain.latest_build.build_id)}`) : null;
    if (state.selected !== name) return;
    const parts = [
      el("h2", { "data-selected": name }, name, " ", stateBadge(domain.state)),
      el("p", { class: "muted" }, `${domain.layer} · owner ${domain.owner} · schedule ${domain.schedule}`),
      domain.description ? el("p", {}, domain.description) : null,
      el(
        "p",
        { class: "links" },
        airflowLink("DAG in Airflow", `/dags/${encodeURIComponent(domain.dag_id)}`),
        airflowLink("runs", `/dags/${encodeURIComponent(domain.dag_id)}/runs`),
      ),
      domain.problems.length ? el("pre", { class: "fail" }, domain.problems.join("\n")) : null,
      domain.published
        ? el("p", {}, `published v${domain.published.version}, certified ${when(domain.published.certified_at)} (build ${domain.published.build_id})`)
        : el("p", { class: "muted" }, "never certified"),
      domain.health.overdue ? el("p", { class: "warn" }, `overdue: a certification was due after ${when(domain.health.due_since)}`) : null,
      ...checksSection(latest),
      ...portsSection(domain),
      ...inputsSection(domain),
      domain.consumers.length ? el("p", {}, "consumers: ", domain.consumers.join(", ")) : null,
      ...buildsSection(domain, builds),
    ];
    detail.replaceChildren(...parts.filter((part) => part !== null && part !== undefined));
  } catch (error) {
    detail.replaceChildren(el("p", { class: "fail" }, error.message));
  }
}

// ------------------------------------------------------------------ refresh

const state = { lineage: null, selected: decodeURIComponent(location.hash.slice(1)) || null };

async function refresh() {
  let wait = 15;
  try {
    state.lineage = await get("/lineage");
    drawGraph(state.lineage, state.selected);
    const counts = {};
    for (const node of state.lineage.nodes) counts[node.state] = (counts[node.state] || 0) + 1;
    say(`${state.lineage.nodes.length} domains · ` + Object.entries(counts).map(([s, n]) => `${n} ${s.replaceAll("_", " ")}`).join(", ") + ` · updated ${new Date().toLocaleTimeString()}`);
    if (state.selected && document.getElementById("detail").hidden) select(state.selected);
  } catch (error) {
    say(error.message);
    if (error.retry) wait = error.retry;
  }
  setTimeout(refresh, wait * 1000);
}

refresh();
