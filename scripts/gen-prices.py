#!/usr/bin/env python3
"""Regenerate data/ec2-prices.csv: EC2 on-demand prices, USD per hour, per region and instance type.

Rows are for Linux, Shared tenancy, no pre-installed software, capacitystatus Used (the price of a
running instance, not of a capacity reservation), for the instance types of
data/ec2-instance-types.csv and the regions given on the command line (default: DEFAULT_REGIONS).
A (region, type) the source has no price for gets no row: fleetform never guesses a price.

Source: AWS's public Price List bulk API, the Amazon EC2 offer file of each region,
  https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/<region>/index.json
(fetched for each region asked for), or local copies of it given with --offer FILE (repeatable;
each file may hold one region or several). Its structure, as far as it is read here:
  publicationDate      when AWS published the offer (named in the CSV header)
  products[sku]        {"sku", "productFamily", "attributes": {instanceType, operatingSystem,
                        tenancy, preInstalledSw, capacitystatus, licenseModel, marketoption,
                        regionCode, location, locationType, ...}}
  terms.OnDemand[sku][offerTermCode]
                       {"priceDimensions": {rateCode: {"unit": "Hrs",
                                                       "pricePerUnit": {"USD": "0.0960000000"}}},
                        "termAttributes": {}}
  terms.Reserved[...]  ignored.
A product is taken when operatingSystem is Linux, tenancy Shared, preInstalledSw NA, capacitystatus
Used, licenseModel (if given) "No License required", marketoption (if given) OnDemand, locationType
(if given) "AWS Region" (so Local Zones and Wavelength Zones, which have their own regionCode, are
left out), and regionCode is one of the regions asked for. Two matching products or terms with
different prices for one (region, type) are an error, not a choice.

The whole offer is read into memory (json has no streaming reader in the standard library); the
products and terms that cannot match are dropped while it is parsed, but a large region's offer
still needs a few GB of memory.

Alternative source, --from-karpenter FILE: Karpenter's pkg/providers/pricing/zz_generated.pricing_aws.go
(aws/karpenter-provider-aws on GitHub), which Karpenter generates from the AWS Pricing API with the
same filters (Linux, Shared, NA, Used, OnDemand) and commits. It holds us-east-1 only; the other
regions asked for are then named in the header as having no prices. Name the file's commit with
--ref so the header says exactly which numbers were taken.

Alternative source, --from-skypilot FILE: SkyPilot's AWS catalog, catalogs/v7/aws/vms.csv of
skypilot-org/skypilot-catalog on GitHub, which SkyPilot generates from the AWS pricing API and
commits. It is a CSV with (at least) the columns InstanceType, Price (on-demand, USD an hour),
Region and AvailabilityZone, one row per type and availability zone (other columns, such as
SpotPrice, are ignored). The on-demand price is a region's, not a zone's: it is taken when every
zone of the region gives the same price, and a (region, type) whose zones disagree is an error
naming them. Rows with an empty Price are skipped. The file names no date: give it with --date
(the date of the commit the file was taken from), and the commit with --ref.

Sources may be combined (--offer, --from-karpenter and --from-skypilot together): each region is
then taken whole from one source, the first that has prices for it in the order Karpenter,
SkyPilot, offer files, and never filled in from another. The header names, for each region,
its source with its commit or version and its date. --ref and --date take SOURCE=VALUE
(karpenter=, skypilot=, offer=) when several sources are given.

Prices are kept as AWS writes them (decimal strings such as 0.1120000000), rounded to at most six
decimal places and stripped of trailing zeros; no float arithmetic. Rows are sorted by region and
type, so the same input always gives the same file. Python 3.11 standard library only.

    python3 scripts/gen-prices.py                          # fetch the offers of DEFAULT_REGIONS
    python3 scripts/gen-prices.py --offer us-east-1.json --offer eu-west-3.json us-east-1 eu-west-3
    python3 scripts/gen-prices.py --from-karpenter zz_generated.pricing_aws.go --ref <commit>
    python3 scripts/gen-prices.py --from-karpenter zz_generated.pricing_aws.go --ref karpenter=<commit> \
        --from-skypilot vms.csv --ref skypilot=<commit> --date skypilot=<commit date>
Re-run after AWS changes prices or a type is added to data/ec2-instance-types.csv; commit both.
"""
import argparse
import csv
import json
import re
import sys
import urllib.request
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPES_CSV = ROOT / "data" / "ec2-instance-types.csv"
OUT_CSV = ROOT / "data" / "ec2-prices.csv"
OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/{region}/index.json"
# Commercial regions in the US, Europe and Asia Pacific that fleets are most often run in.
DEFAULT_REGIONS = [
    "us-east-1", "us-east-2", "us-west-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
]
# What a product's attributes must say (attribute: accepted values; None: the attribute may be absent).
WANTED = {
    "operatingSystem": {"Linux"},
    "tenancy": {"Shared"},
    "preInstalledSw": {"NA"},
    "capacitystatus": {"Used"},
    "licenseModel": {"No License required", None},
    "marketoption": {"OnDemand", None},
    "locationType": {"AWS Region", None},
}
SIX_PLACES = Decimal("0.000001")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class SourceError(Exception):
    pass


def warn(msg):
    print(f"gen-prices: {msg}", file=sys.stderr)


def read_types(path):
    types = set()
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("type,"):
            continue
        types.add(line.split(",", 1)[0])
    if not types:
        raise SourceError(f"{path}: no instance types")
    return types


class Price:
    """One normalised price: the text written to the CSV, and how it was rounded."""

    rounded = 0  # how many prices lost digits past the sixth decimal place

    @staticmethod
    def normalise(text, where):
        try:
            d = Decimal(str(text).strip())
        except InvalidOperation:
            raise SourceError(f"{where}: price {text!r} is not a number") from None
        if not d.is_finite() or d <= 0:
            raise SourceError(f"{where}: price {text!r} is not a positive number")
        q = d.quantize(SIX_PLACES, rounding=ROUND_HALF_EVEN)
        if q != d:
            Price.rounded += 1
        return format(q.normalize(), "f")


def attributes_match(attrs, types):
    if attrs.get("instanceType") not in types:
        return False
    return all(attrs.get(k) in ok for k, ok in WANTED.items())


def offer_hook(types):
    """A json object_hook that drops, while parsing, what can never be used: the attributes of
    products that do not match (their product then has attributes None) and Reserved terms."""

    def hook(d):
        if "servicecode" in d and "usagetype" in d:  # a product's attributes
            return d if attributes_match(d, types) else None
        if "priceDimensions" in d and d.get("termAttributes"):  # a Reserved term
            return None
        return d

    return hook


def prices_from_offer(offer, types, where):
    """{(regionCode, instanceType): price} from one parsed offer file."""
    if not isinstance(offer, dict) or "products" not in offer or "terms" not in offer:
        raise SourceError(f"{where}: not an AWS price list offer file (no products/terms)")
    if offer.get("offerCode", "AmazonEC2") != "AmazonEC2":
        raise SourceError(f"{where}: offer {offer.get('offerCode')!r}, not AmazonEC2")
    on_demand = offer["terms"].get("OnDemand", {})
    found = {}  # (region, type) -> (price, sku)
    for sku, product in offer["products"].items():
        attrs = product.get("attributes")
        if not attrs or not attributes_match(attrs, types):
            continue
        region = attrs.get("regionCode")
        if not region:
            raise SourceError(f"{where}: product {sku} has no regionCode (an offer file older than 2020?)")
        hourly = set()
        for code, term in (on_demand.get(sku) or {}).items():
            if not term:
                continue
            for rate, dim in term.get("priceDimensions", {}).items():
                if dim.get("unit") != "Hrs":
                    continue
                usd = dim.get("pricePerUnit", {}).get("USD")
                if usd is None:
                    continue
                hourly.add(Price.normalise(usd, f"{where}: {region} {attrs['instanceType']} (sku {sku})"))
        if not hourly:
            warn(f"{where}: {region} {attrs['instanceType']} (sku {sku}) has no on-demand hourly USD price; skipped")
            continue
        if len(hourly) > 1:
            raise SourceError(f"{where}: {region} {attrs['instanceType']} (sku {sku}) has several hourly prices: {sorted(hourly)}")
        price = hourly.pop()
        key = (region, attrs["instanceType"])
        if key in found and found[key][0] != price:
            raise SourceError(f"{where}: {key[0]} {key[1]}: skus {found[key][1]} and {sku} give {found[key][0]} and {price}")
        found[key] = (price, sku)
    return {k: v[0] for k, v in found.items()}


def load_offer(source, types):
    hook = offer_hook(types)
    try:
        if source.startswith("https://"):
            with urllib.request.urlopen(source, timeout=120) as r:
                return json.load(r, object_hook=hook)
        with open(source, encoding="utf-8") as f:
            return json.load(f, object_hook=hook)
    except (OSError, ValueError) as e:
        hint = "; download it where it can be reached and pass it with --offer FILE" if source.startswith("https://") else ""
        raise SourceError(f"cannot read {source}: {e}{hint}") from None


def prices_from_karpenter(path, types):
    """{(region, type): price} and the generation time from Karpenter's zz_generated.pricing_aws.go."""
    text = Path(path).read_text(encoding="utf-8")
    if "InitialOnDemandPricesAWS" not in text:
        raise SourceError(f"{path}: not Karpenter's zz_generated.pricing_aws.go (no InitialOnDemandPricesAWS)")
    m = re.search(r"^// generated at (\S+)", text, re.M)
    generated = m.group(1) if m else "an unknown date"
    found, region = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.fullmatch(r'"([a-z0-9-]+)": \{', s)
        if m and REGION_RE.match(m.group(1)):
            region = m.group(1)
            continue
        if region is None or s.startswith("//"):
            continue
        if s in ("}", "},"):
            region = None
            continue
        for t, p in re.findall(r'"([a-z0-9][a-z0-9.-]*)":\s*([0-9][0-9.eE+-]*)', s):
            if t in types:
                found[(region, t)] = Price.normalise(p, f"{path}:{n} {t}")
    if not found:
        raise SourceError(f"{path}: no prices for the instance types of {TYPES_CSV.name}")
    return found, generated



SKYPILOT_COLUMNS = ("InstanceType", "Price", "Region", "AvailabilityZone")


def prices_from_skypilot(path, types):
    """{(region, type): price} from SkyPilot's catalogs/v7/aws/vms.csv: one row per type and
    availability zone; a region's zones must agree on the on-demand price."""
    try:
        f = open(path, encoding="utf-8", newline="")
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e}") from None
    with f:
        rows = csv.DictReader(f)
        missing = [c for c in SKYPILOT_COLUMNS if c not in (rows.fieldnames or [])]
        if missing:
            raise SourceError(f"{path}: not SkyPilot's aws/vms.csv (no column {', '.join(missing)})")
        zones = {}  # (region, type) -> {price: [zone, ...]}
        empty = 0
        for row in rows:
            t = row["InstanceType"]
            if t not in types:
                continue
            where = f"{path}:{rows.line_num}"
            region, zone, price = row["Region"], row["AvailabilityZone"], (row["Price"] or "").strip()
            if not REGION_RE.match(region or ""):
                raise SourceError(f"{where}: {t}: region {region!r} is not a region code")
            if not price:
                empty += 1
                continue
            p = Price.normalise(price, f"{where} {region} {t}")
            zones.setdefault((region, t), {}).setdefault(p, []).append(zone)
    if empty:
        warn(f"{path}: {empty} row(s) of the types asked for have no on-demand price; skipped")
    found, disagree = {}, []
    for key, by_price in sorted(zones.items()):
        if len(by_price) > 1:
            disagree.append(f"{key[0]} {key[1]}: " + "; ".join(
                f"{p} in {' '.join(sorted(z))}" for p, z in sorted(by_price.items())))
            continue
        found[key] = next(iter(by_price))
    if disagree:
        raise SourceError(f"{path}: the zones of a region disagree on the on-demand price of "
                          f"{len(disagree)} (region, type):\n  " + "\n  ".join(disagree))
    if not found:
        raise SourceError(f"{path}: no prices for the instance types of {TYPES_CSV.name}")
    return found

SOURCES = ("karpenter", "skypilot", "offer")  # when combined, a region comes from the first that has it


def per_source(values, given, option, ap):
    """The values of a repeatable --ref/--date: SOURCE=VALUE, or VALUE alone when one source is given."""
    out = {}
    for v in values or []:
        name, sep, value = v.partition("=")
        if not (sep and name in SOURCES):
            if len(given) != 1:
                ap.error(f"{option} {v}: say which source it is for (SOURCE=VALUE, SOURCE one of {' '.join(given)})")
            name, value = given[0], v
        elif name not in given:
            ap.error(f"{option} {v}: no {name} source given")
        if out.get(name, value) != value:
            ap.error(f"{option}: two values for {name}")
        out[name] = value
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the top of this script for the sources' structure and the filters.")
    ap.add_argument("regions", nargs="*", metavar="REGION",
                    help="regions to write (default: " + " ".join(DEFAULT_REGIONS) + ")")
    ap.add_argument("--offer", action="append", metavar="FILE",
                    help="a local copy of an AmazonEC2 offer file (index.json) instead of fetching; repeatable")
    ap.add_argument("--from-karpenter", metavar="FILE",
                    help="read Karpenter's pkg/providers/pricing/zz_generated.pricing_aws.go")
    ap.add_argument("--from-skypilot", metavar="FILE",
                    help="read SkyPilot's catalogs/v7/aws/vms.csv (skypilot-org/skypilot-catalog)")
    ap.add_argument("--ref", action="append", metavar="[SOURCE=]REF",
                    help="commit or version of a source file, named in the header; repeatable")
    ap.add_argument("--date", action="append", metavar="[SOURCE=]DATE",
                    help="date of a source file that names none (SkyPilot's: its commit's date); repeatable")
    ap.add_argument("--types", default=str(TYPES_CSV), metavar="CSV", help="instance types (default: %(default)s)")
    ap.add_argument("-o", "--output", default=str(OUT_CSV), metavar="FILE", help="'-' for stdout (default: %(default)s)")
    args = ap.parse_args(argv)

    regions = list(dict.fromkeys(args.regions or DEFAULT_REGIONS))
    bad = [r for r in regions if not REGION_RE.match(r)]
    if bad:
        ap.error("not region codes: " + " ".join(bad))
    given = [n for n, v in zip(SOURCES, (args.from_karpenter, args.from_skypilot, args.offer)) if v] or ["offer"]
    refs = per_source(args.ref, given, "--ref", ap)
    dates = per_source(args.date, given, "--date", ap)
    if "karpenter" in dates:
        ap.error("--date karpenter=...: Karpenter's file names its own date (generated at)")
    try:
        types = read_types(args.types)
        sources = []  # (name, {(region, type): price}, description)
        if args.from_karpenter:
            prices, generated = prices_from_karpenter(args.from_karpenter, types)
            ref = f", {refs['karpenter']}" if "karpenter" in refs else ""
            sources.append(("karpenter", prices,
                            "Karpenter's pkg/providers/pricing/zz_generated.pricing_aws.go (aws/karpenter-provider-aws on GitHub"
                            f"{ref}), which Karpenter generated from the AWS Pricing API at {generated}"))
        if args.from_skypilot:
            prices = prices_from_skypilot(args.from_skypilot, types)
            ref = f", {refs['skypilot']}" if "skypilot" in refs else ""
            if "skypilot" not in dates:
                warn("--from-skypilot without --date: the header will say the catalog's date is unknown")
            date = dates.get("skypilot", "an unknown date")
            sources.append(("skypilot", prices,
                            f"SkyPilot's catalogs/v7/aws/vms.csv (skypilot-org/skypilot-catalog on GitHub{ref}, of {date}), "
                            "which SkyPilot generated from the AWS pricing API (on-demand, Linux, no pre-installed software, Used)"))
        if "offer" in given:
            prices = {}
            files = args.offer or [OFFER_URL.format(region=r) for r in regions]
            published = []
            for f in files:
                offer = load_offer(f, types)
                published.append(offer.get("publicationDate", "no publicationDate"))
                for key, p in prices_from_offer(offer, types, f).items():
                    if key in prices and prices[key] != p:
                        raise SourceError(f"{key[0]} {key[1]}: the offers give {prices[key]} and {p}")
                    prices[key] = p
                del offer
            ref = f" ({refs['offer']})" if "offer" in refs else ""
            sources.append(("offer", prices,
                            f"the AWS Price List bulk API, AmazonEC2 offer files{ref}, publicationDate "
                            + ", ".join(sorted(set(published)))))
    except SourceError as e:
        warn(str(e))
        return 1

    chosen = {}  # region -> index in sources: a region is taken whole from one source
    for r in regions:
        for i, (_, prices, _) in enumerate(sources):
            if any(k[0] == r for k in prices):
                chosen[r] = i
                break
    rows = sorted((r, t, p) for i, (_, prices, _) in enumerate(sources)
                  for (r, t), p in prices.items() if chosen.get(r) == i)
    have = sorted(chosen)
    absent = sorted(r for r in regions if r not in chosen)
    if not rows:
        warn("no prices for any region asked for (" + " ".join(regions) + "); nothing written")
        return 1
    for r in have:
        prices = sources[chosen[r]][1]
        missing = sorted(t for t in types if (r, t) not in prices)
        if missing:
            warn(f"{r} ({sources[chosen[r]][0]}): no price for {len(missing)} type(s): {' '.join(missing)}")
    if absent:
        warn("no prices at all for: " + " ".join(absent))
    if Price.rounded:
        warn(f"{Price.rounded} price(s) rounded to six decimal places")

    described = []
    for i, (name, _, desc) in enumerate(sources):
        rs = [r for r in have if chosen[r] == i]
        if rs:
            described.append(f"#   {' '.join(rs)}: {desc};")
    lines = [
        "# EC2 on-demand prices, USD per hour: Linux, shared tenancy, no pre-installed software, capacitystatus Used.",
        "# Each region is taken whole from one source:",
        *described,
        "# regenerate with scripts/gen-prices.py. A region or type without a row has no price: never guessed.",
        "# Regions: " + " ".join(have) + (
            " (asked for but not in the sources: " + " ".join(absent) + ")" if absent else ""),
        "region,instance_type,usd_per_hour",
        *(f"{r},{t},{p}" for r, t, p in rows),
    ]
    text = "\n".join(lines) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        warn(f"wrote {len(rows)} rows for {len(have)} region(s) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
