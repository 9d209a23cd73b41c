"""Deterministic synthetic raw data for the pharma mesh example.

``dagmesh seed`` calls :func:`generate`. All randomness comes from DuckDB's ``hash()``
of row numbers, so the same scale always yields the same rows (only ``loaded_at``
follows the time of seeding, so freshness checks pass). At scale 1 the AMA file has
about 1M rows for 800k physicians, of which about 40k are brand-relevant.

Tables are written in a DuckDB connection; ``relation`` maps each raw table name
(``RAW.AMA.PHYSICIANS``) to where the engine keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from string import Template
from typing import Any

#: Claims and calls end on this day, so the data is the same whenever it is seeded.
ANCHOR_DATE = "2026-09-30"

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Priya", "Wei", "Ahmed", "Maria", "Hiroshi", "Olga", "Carlos", "Fatima",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Raj", "Mei",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Patel",
    "Nguyen", "Kim", "Chen", "Shah", "Cohen", "Muller", "Rossi", "Kowalski", "Okafor", "Tanaka",
    "Singh", "Ivanova", "Haddad", "Silva", "Walker", "Young", "Allen", "King", "Wright", "Scott",
]  # fmt: skip
STATES = [
    "CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ", "MA",
    "TN", "IN", "MO", "MD", "WI", "CO", "MN", "SC", "AL", "LA", "KY", "OR", "OK", "CT", "UT",
]  # fmt: skip
PAYERS = [
    ("UnitedHealthcare", "COMMERCIAL"), ("Aetna", "COMMERCIAL"), ("Cigna", "COMMERCIAL"),
    ("Elevance Health", "COMMERCIAL"), ("Humana", "MEDICARE"), ("Centene", "MEDICAID"),
    ("Molina Healthcare", "MEDICAID"), ("Kaiser Permanente", "COMMERCIAL"),
    ("Blue Cross Blue Shield", "COMMERCIAL"), ("WellCare", "MEDICARE"), ("CVS Caremark", "COMMERCIAL"),
    ("Express Scripts", "COMMERCIAL"), ("Veterans Affairs", "VA"), ("Highmark", "COMMERCIAL"),
]  # fmt: skip
#: (brand, generic, manufacturer, therapeutic area, is our brand, strengths, launch)
BRANDS = [
    ("Veltrexa", "veltrenib", "Meridian Pharma", "ONCOLOGY", True, ["50 MG", "100 MG", "150 MG"], "2026-03-01"),
    ("Cardiva", "cardivastatin", "Meridian Pharma", "CARDIOLOGY", True, ["10 MG", "20 MG", "40 MG"], "2019-06-15"),
    ("Dermalux", "dermacizumab", "Meridian Pharma", "DERMATOLOGY", True, ["150 MG/ML", "300 MG/ML"], "2021-09-01"),
    ("Oncoryx", "oncorafenib", "Halden Therapeutics", "ONCOLOGY", False, ["75 MG", "150 MG"], "2018-02-01"),
    ("Tumivar", "tumivastat", "Brightwell Bio", "ONCOLOGY", False, ["25 MG", "50 MG"], "2020-11-20"),
    ("Myelora", "myelotinib", "Calder Labs", "ONCOLOGY", False, ["100 MG", "200 MG"], "2016-05-10"),
    ("Hemastra", "hemasertib", "Brightwell Bio", "ONCOLOGY", False, ["40 MG", "80 MG"], "2022-01-15"),
    ("Lipravo", "lipravastatin", "Northgate Pharma", "CARDIOLOGY", False, ["20 MG", "40 MG"], "2015-03-01"),
    ("Rhythmax", "rhythmacor", "Calder Labs", "CARDIOLOGY", False, ["100 MG", "200 MG"], "2017-08-01"),
    ("Pressolin", "pressotan", "Halden Therapeutics", "CARDIOLOGY", False, ["80 MG", "160 MG"], "2014-04-12"),
    ("Cutivane", "cutivimab", "Northgate Pharma", "DERMATOLOGY", False, ["150 MG/ML"], "2020-02-20"),
    ("Psorelta", "psoreltinib", "Calder Labs", "DERMATOLOGY", False, ["30 MG", "60 MG"], "2019-10-01"),
    ("Glucora", "glucoratide", "Northgate Pharma", "ENDOCRINOLOGY", False, ["1 MG", "2 MG"], "2018-07-01"),
    ("Pulmaxa", "pulmaxatrol", "Brightwell Bio", "RESPIRATORY", False, ["250 MCG"], "2013-01-15"),
]  # fmt: skip


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


#: Deterministic randomness: a uniform number in [0, 1) and a pick from a list, both
#: from a row number and a salt.
MACROS = (
    "CREATE OR REPLACE TEMP MACRO u(i, salt) AS ((hash(i * 1000003 + salt) % 1000000) / 1000000.0)",
    "CREATE OR REPLACE TEMP MACRO pick(items, i, salt) AS items[1 + (hash(i * 7919 + salt) % len(items))::INTEGER]",
)


def generate(
    con: Any,
    scale: float,
    relation: Callable[[str], str],
    loaded_at: datetime,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> dict[str, int]:
    """Create every raw table at ``scale`` in DuckDB connection ``con``; returns row counts."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    stamp = loaded_at.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    values = {
        "N": str(max(int(800_000 * scale), 500)),
        "CLAIMS": str(max(int(2_000_000 * scale), 2_000)),
        "CALLS": str(max(int(400_000 * scale), 500)),
        "LOADED": f"TIMESTAMP '{stamp}'",
        "ANCHOR": f"DATE '{ANCHOR_DATE}'",
        "FIRST": _sql_list(FIRST_NAMES),
        "LAST": _sql_list(LAST_NAMES),
        "STATES": _sql_list(STATES),
    }
    con.execute("SET enable_progress_bar = false")
    for macro in MACROS:
        con.execute(macro)
    counts: dict[str, int] = {}
    for table, template in STATEMENTS:
        target = relation(table)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {target.rsplit('.', 1)[0]}")
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {Template(template).substitute(values)}")
        counts[table] = int(con.execute(f"SELECT COUNT(*) FROM {target}").fetchone()[0])
        progress(table, counts[table])
        # Later tables sample from earlier ones through ${PHYSICIANS}, ${PLANS}, ...
        values[table.split(".")[-1]] = target
    return counts


_AMA = """
    WITH people AS (
        SELECT i,
               '0' || lpad((i * 7 + 1000003)::VARCHAR, 10, '0') AS me_number,
               (1000000000 + i * 3 + 7)::VARCHAR AS npi,
               pick(${FIRST}, i, 1) AS first_name,
               pick(${LAST}, i, 2) AS last_name,
               pick(${STATES}, i, 3) AS state,
               hash(i * 31 + 4) % 1000 AS specialty_draw,
               u(i, 5) AS license_draw,
               u(i, 6) AS npi_draw
        FROM range(${N}) t(i)
    ),
    coded AS (
        SELECT *,
               CASE
                   WHEN specialty_draw < 15 THEN 'ON'
                   WHEN specialty_draw < 25 THEN 'HO'
                   WHEN specialty_draw < 50 THEN 'CD'
                   WHEN specialty_draw < 65 THEN 'D'
                   WHEN specialty_draw < 265 THEN 'FM'
                   WHEN specialty_draw < 465 THEN 'IM'
                   WHEN specialty_draw < 500 THEN 'GP'
                   ELSE ['PD', 'EM', 'OBG', 'PSY', 'ORS', 'AN', 'DR', 'GS', 'N', 'OPH'][1 + (specialty_draw % 10)::INTEGER]
               END AS specialty_code
        FROM people
    ),
    current_records AS (
        SELECT me_number,
               upper(first_name) AS first_name,
               CASE WHEN i % 9 = 0 THEN '  ' || last_name ELSE upper(last_name) END AS last_name,
               CASE WHEN i % 5 = 0 THEN chr(65 + (i % 26)::INTEGER) END AS middle_initial,
               CASE WHEN i % 11 = 0 THEN lower(specialty_code) || ' ' ELSE specialty_code END AS primary_specialty,
               state AS practice_state,
               lpad(((i * 37) % 99999)::VARCHAR, 5, '0')
                   || CASE WHEN i % 3 = 0 THEN '-' || lpad((i % 9999)::VARCHAR, 4, '0') ELSE '' END AS practice_zip,
               CASE WHEN license_draw < 0.94 THEN 'ACTIVE' WHEN license_draw < 0.98 THEN 'INACTIVE' ELSE 'RETIRED' END
                   AS license_status,
               CASE WHEN npi_draw < 0.85 THEN npi END AS npi,
               ${ANCHOR}::TIMESTAMP - INTERVAL (i % 400) DAY AS record_updated_at
        FROM coded
    ),
    earlier_records AS (
        SELECT me_number,
               upper(first_name) AS first_name,
               upper(last_name) AS last_name,
               NULL AS middle_initial,
               CASE WHEN specialty_code IN ('CD', 'ON', 'HO') THEN 'IM' ELSE specialty_code END AS primary_specialty,
               pick(${STATES}, i, 7) AS practice_state,
               lpad(((i * 53) % 99999)::VARCHAR, 5, '0') AS practice_zip,
               'ACTIVE' AS license_status,
               CASE WHEN npi_draw < 0.30 THEN npi END AS npi,
               ${ANCHOR}::TIMESTAMP - INTERVAL (400 + i % 2000) DAY AS record_updated_at
        FROM coded
        WHERE i % 4 = 0
    )
    SELECT *, ${LOADED} - INTERVAL (hash(me_number) % 6) HOUR AS loaded_at
    FROM (SELECT * FROM current_records UNION ALL SELECT * FROM earlier_records)
"""

_NPI = """
    SELECT (1000000000 + i * 3 + 7)::VARCHAR AS npi,
           1 AS entity_type,
           pick(${FIRST}, i, 1) AS provider_first_name,
           pick(${LAST}, i, 2) AS provider_last_name,
           CASE WHEN u(i, 8) < 0.9 THEN pick(${STATES}, i, 3) ELSE pick(${STATES}, i, 9) END AS practice_state,
           (${ANCHOR} - INTERVAL (365 + i % 6000) DAY)::DATE AS enumeration_date,
           CASE WHEN u(i, 10) < 0.03 THEN (${ANCHOR} - INTERVAL (i % 700) DAY)::DATE END AS deactivation_date,
           ${LOADED} AS loaded_at
    FROM range(${N}) t(i)
    WHERE u(i, 11) < 0.97
    UNION ALL
    SELECT (1900000000 + i * 3 + 1)::VARCHAR, 2, NULL, 'HEALTH SYSTEM ' || i::VARCHAR,
           pick(${STATES}, i, 12), (${ANCHOR} - INTERVAL (i % 4000) DAY)::DATE, NULL, ${LOADED}
    FROM range(${N} // 20) t(i)
"""

_PRODUCTS = (
    "SELECT ndc, product_name, brand_name, generic_name, manufacturer, therapeutic_area, strength, "
    "package_size, launch_date::DATE AS launch_date, is_company_brand, wac_price::DECIMAL(12, 2) AS wac_price, "
    "${LOADED} AS loaded_at FROM (VALUES "
    + ", ".join(
        "(" + ", ".join(repr(v) if not isinstance(v, bool) else str(v).upper() for v in row) + ")"
        for row in (
            (
                ("50242" if ours else f"{60000 + n * 7 % 9000:05d}") + f"{n:04d}{package // 30:02d}",
                f"{brand} {strength}",
                brand,
                generic,
                maker,
                area,
                strength,
                package,
                launch,
                ours,
                round(80.0 + (n * 137 % 900) + (400.0 if ours else 0.0), 2),
            )
            for n, (brand, generic, maker, area, ours, strength, launch, package) in enumerate(
                (
                    (b, g, m, a, o, s, launch, p)
                    for b, g, m, a, o, strengths, launch in BRANDS
                    for s in strengths
                    for p in (30, 90)
                ),
                start=1,
            )
        )
    )
    + ") AS p(ndc, product_name, brand_name, generic_name, manufacturer, therapeutic_area, strength, "
    "package_size, launch_date, is_company_brand, wac_price)"
)

_PLANS = (
    "SELECT 'PLN' || lpad(i::VARCHAR, 5, '0') AS plan_id, payers[1 + (i % len(payers))::INTEGER][1] AS payer_name, "
    "payers[1 + (i % len(payers))::INTEGER][1] || ' ' || ['HMO', 'PPO', 'EPO', 'PDP', 'MAPD'][1 + (i % 5)::INTEGER] "
    "|| ' ' || ${STATES}[1 + ((i * 7) % len(${STATES}))::INTEGER] || ' ' || (i % 13 + 1)::VARCHAR AS plan_name, "
    "payers[1 + (i % len(payers))::INTEGER][2] AS channel, ${STATES}[1 + ((i * 7) % len(${STATES}))::INTEGER] AS state, "
    "(5000 + (i * 7919) % 900000)::BIGINT AS covered_lives, ${LOADED} AS loaded_at "
    "FROM range(1200) t(i), (SELECT ["
    + ", ".join(f"['{name}', '{channel}']" for name, channel in PAYERS)
    + "] AS payers)"
)

_FORMULARY = """
    SELECT p.plan_id, c.ndc,
           1 + (hash(p.plan_id || c.brand_name) % 5)::INTEGER AS tier,
           (hash(p.plan_id || c.brand_name || 'pa') % 100) < CASE WHEN c.is_company_brand THEN 35 ELSE 25 END
               AS prior_auth,
           (hash(p.plan_id || c.brand_name || 'st') % 100) < 15 AS step_therapy,
           (${ANCHOR} - INTERVAL (hash(p.plan_id) % 300) DAY)::DATE AS effective_date,
           ${LOADED} AS loaded_at
    FROM ${PLANS} p
    JOIN ${NDC_CATALOG} c ON c.therapeutic_area IN ('ONCOLOGY', 'CARDIOLOGY', 'DERMATOLOGY')
    WHERE (hash(p.plan_id || c.ndc) % 10) < 8
"""

#: Physicians the company's reps and claims revolve around (recent AMA records).
_PRESCRIBERS = """
    SELECT npi, row_number() OVER (ORDER BY npi) - 1 AS rn
    FROM ${PHYSICIANS}
    WHERE npi IS NOT NULL AND upper(trim(primary_specialty)) IN (%s)
      AND record_updated_at >= ${ANCHOR}::TIMESTAMP - INTERVAL 400 DAY
"""

_CLAIMS = f"""
    WITH relevant AS ({_PRESCRIBERS % "'ON', 'HO', 'CD', 'D'"}),
    others AS ({_PRESCRIBERS % "'FM', 'IM', 'GP'"}),
    products AS (SELECT ndc, row_number() OVER (ORDER BY ndc) - 1 AS rn FROM ${{NDC_CATALOG}}),
    plans AS (SELECT plan_id, row_number() OVER (ORDER BY plan_id) - 1 AS rn FROM ${{PLANS}}),
    sizes AS (
        SELECT (SELECT COUNT(*) FROM relevant) AS relevant_n, (SELECT COUNT(*) FROM others) AS others_n,
               (SELECT COUNT(*) FROM products) AS products_n, (SELECT COUNT(*) FROM plans) AS plans_n
    ),
    draws AS (
        SELECT i,
               u(i, 21) < 0.8 AS by_specialist,
               CASE WHEN u(i, 21) < 0.8 THEN hash(i * 17 + 22) % relevant_n END AS relevant_rn,
               CASE WHEN u(i, 21) >= 0.8 THEN hash(i * 17 + 22) % others_n END AS others_rn,
               hash(i * 19 + 23) % products_n AS product_rn,
               hash(i * 23 + 24) % plans_n AS plan_rn,
               u(i, 25) AS status_draw
        FROM range(${{CLAIMS}}) t(i), sizes
    )
    SELECT 'CLM' || lpad(d.i::VARCHAR, 10, '0') AS claim_id,
           COALESCE(r.npi, o.npi) AS prescriber_npi,
           pr.ndc,
           pl.plan_id,
           (${{ANCHOR}} - INTERVAL (hash(d.i * 29 + 26) % 365) DAY)::DATE AS fill_date,
           [30, 30, 30, 90][1 + (hash(d.i * 31 + 27) % 4)::INTEGER] AS days_supply,
           ((1 + hash(d.i * 37 + 28) % 3) * 30)::INTEGER AS quantity,
           round(50 + (hash(d.i * 41 + 29) % 90000) / 10.0, 2)::DECIMAL(12, 2) AS paid_amount,
           CASE WHEN d.status_draw < 0.85 THEN 'PAID' WHEN d.status_draw < 0.97 THEN 'REJECTED' ELSE 'REVERSED' END
               AS claim_status,
           ${{LOADED}} - INTERVAL (d.i % 12) HOUR AS loaded_at
    FROM draws d
    LEFT JOIN relevant r ON r.rn = d.relevant_rn
    LEFT JOIN others o ON o.rn = d.others_rn
    JOIN products pr ON pr.rn = d.product_rn
    JOIN plans pl ON pl.rn = d.plan_rn
"""

_CALLS = f"""
    WITH relevant AS ({_PRESCRIBERS % "'ON', 'HO', 'CD', 'D'"}),
    draws AS (
        SELECT i, hash(i * 67 + 36) % (SELECT COUNT(*) FROM relevant) AS relevant_rn
        FROM range(${{CALLS}}) t(i)
    )
    SELECT 'CALL' || lpad(i::VARCHAR, 9, '0') AS call_id,
           r.npi,
           'REP' || lpad((hash(i * 43 + 31) % 450)::VARCHAR, 4, '0') AS rep_id,
           (${{ANCHOR}} - INTERVAL (hash(i * 47 + 32) % 180) DAY)::DATE AS call_date,
           pick(['F2F', 'F2F', 'VIRTUAL', 'EMAIL'], i, 33) AS channel,
           pick(['Veltrexa', 'Cardiva', 'Dermalux'], i, 34) AS detailed_brand,
           (5 + hash(i * 61 + 35) % 25)::INTEGER AS duration_min,
           ${{LOADED}} - INTERVAL (i % 8) HOUR AS loaded_at
    FROM draws d
    JOIN relevant r ON r.rn = d.relevant_rn
"""

#: (raw table, SELECT creating it), in the order they are generated.
STATEMENTS = (
    ("RAW.AMA.PHYSICIANS", _AMA),
    ("RAW.NPI.REGISTRY", _NPI),
    ("RAW.PRODUCT.NDC_CATALOG", _PRODUCTS),
    ("RAW.PAYER.PLANS", _PLANS),
    ("RAW.PAYER.FORMULARY", _FORMULARY),
    ("RAW.CLAIMS.RX_CLAIMS", _CLAIMS),
    ("RAW.CRM.CALLS", _CALLS),
)
