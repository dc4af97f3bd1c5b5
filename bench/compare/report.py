"""Output of bench/compare/compare.py: gnuplot PNGs, the Markdown section between the bench-compare
markers of docs/benchmarks.md, and the machine description."""
import os
import platform
import subprocess

BEGIN = "<!-- bench-compare:begin -->"
END = "<!-- bench-compare:end -->"
LABEL = {"strata": "strata (1 shard)", "prometheus": "Prometheus 2.42 (GOMAXPROCS=1)"}


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    prom = subprocess.run(["prometheus", "--version"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT).stdout.decode().splitlines()
    return {"cpu": cpu, "cpus": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "os": osname,
            "prometheus": prom[0] if prom else "?", "loadavg_start": os.getloadavg()}


# ---- plots -------------------------------------------------------------------------------------

def _gnuplot(script, outdir):
    p = subprocess.run(["gnuplot"], input=script.encode(), cwd=outdir, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError("gnuplot: " + p.stderr.decode()[-400:])


def _median_rep(reps):
    order = sorted(reps, key=lambda r: r["samples_per_s"])
    return order[len(order) // 2]


def plots(res, work, img_dir):
    """Writes the PNGs into img_dir; returns their file names."""
    os.makedirs(img_dir, exist_ok=True)
    made = []
    head = ("set terminal pngcairo size 900,480 font 'sans,10'\nset grid ytics\n"
            "set termoption noenhanced\nset key outside top center horizontal\n")
    ing = res.get("ingest")
    if ing:
        files = {}
        for kind in ("strata", "prometheus"):
            files[kind] = os.path.join(work, "timeline-%s.dat" % kind)
            with open(files[kind], "w") as f:
                for t, sps, cpu in _median_rep(ing["reps"][kind])["timeline"]:
                    f.write("%.2f %.1f %.3f\n" % (t, sps, cpu))
        _gnuplot(head + (
            "set output 'compare-ingest-throughput.png'\n"
            "set title 'Remote-write ingest, closed loop, %d series (median repetition)'\n"
            "set xlabel 'seconds'\nset ylabel 'accepted samples/s'\nset yrange [0:*]\n"
            "set format y '%%.0s%%c'\n"
            "plot '%s' using 1:2 with linespoints title '%s', '%s' using 1:2 with linespoints "
            "title '%s'\n") % (ing["series"], files["strata"], LABEL["strata"],
                               files["prometheus"], LABEL["prometheus"]), img_dir)
        made.append("compare-ingest-throughput.png")
        lat = os.path.join(work, "ingest-latency.dat")
        with open(lat, "w") as f:
            for p in ("p50", "p90", "p99", "max"):
                f.write("%s %s %s\n" % (p, ing["strata"]["latency_ms"][p],
                                        ing["prometheus"]["latency_ms"][p]))
        _gnuplot(head + (
            "set output 'compare-ingest-latency.png'\n"
            "set title 'Remote-write request latency, closed loop (median over repetitions)'\n"
            "set ylabel 'ms (log scale)'\nset logscale y\n"
            "set style data histogram\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
            "plot '%s' using 2:xtic(1) title '%s', '' using 3 title '%s'\n") % (
                lat, LABEL["strata"], LABEL["prometheus"]), img_dir)
        made.append("compare-ingest-latency.png")
    q = res.get("query")
    if q:
        dat = os.path.join(work, "query-latency.dat")
        with open(dat, "w") as f:
            for r in q["queries"]:
                f.write("%s %s %s\n" % (r["name"], r["strata_ms"] or "NaN",
                                        r["prometheus_ms"] or "NaN"))
        _gnuplot(head.replace("900,480", "1100,520") + (
            "set output 'compare-query-latency.png'\n"
            "set title 'PromQL range queries on 24 h of backfilled data, median of %d runs'\n"
            "set ylabel 'ms (log scale)'\nset logscale y\nset xtics rotate by -35\n"
            "set bmargin 9\nset style data histogram\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
            "plot '%s' using 2:xtic(1) title '%s', '' using 3 title '%s'\n") % (
                q["runs"], dat, LABEL["strata"], LABEL["prometheus"]), img_dir)
        made.append("compare-query-latency.png")
    return made


# ---- Markdown ----------------------------------------------------------------------------------

def _n(v, fmt="%.0f"):
    if v is None:
        return "—"
    return fmt % v


def _si(v):
    if v is None:
        return "—"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return "%.3g%s" % (v / div, suf)
    return "%.3g" % v


def markdown(res, json_rel, imgs):
    m, a = res["machine"], res["args"]
    out = [BEGIN, "", "## strata vs Prometheus 2.42 — `make bench-compare`", "",
           "Generated by `%s` on %s (UTC). Machine: %s, %d CPUs, %s GiB RAM, %s, kernel %s; "
           "load average %.1f at the start. %s. Raw figures: [`%s`](%s)." % (
               res["command"], res["date"], m["cpu"], m["cpus"], m["mem_gib"], m["os"],
               m["kernel"], m["loadavg_start"][0], m["prometheus"], json_rel, json_rel), "",
           "Size `%s`: %d series for ingest and memory, 24 h of 15 s samples of %d series for "
           "disk and queries (the full day of the ingest series count would not fit the run's "
           "15 minutes; `SIZE=large` takes 1 M and 100 k). strata built from `%s`." % (
               res["size"], res["config"]["active_targets"] * 500,
               res["config"]["backfill_targets"] * 500, res.get("revision", "?")), "",
           "Each server runs alone, pinned to core 0 (strata `--shards 1`, Prometheus "
           "`GOMAXPROCS=1`), on a fresh data directory; strata-load (remote write 1.0, seed %d, "
           "%d connections) and the driver run on core 1. Figures are medians over the "
           "repetitions; ratios are strata / Prometheus from the same run. The machine is shared "
           "and other work may have run on it meanwhile." % (a["seed"], a["connections"]), ""]
    ing, disk, q = res.get("ingest"), res.get("disk"), res.get("query")
    out += ["| figure | strata | Prometheus 2.42 | strata / Prometheus |", "|---|---|---|---|"]

    def row(name, s, p, r, fmt="%.0f"):
        out.append("| %s | %s | %s | %s |" % (name, _n(s, fmt), _n(p, fmt), _n(r, "%.3f")))

    if ing:
        s, p, r = ing["strata"], ing["prometheus"], ing["ratio"]
        hdr = "%d series, closed loop %d s × %d" % (ing["series"], ing["duration_s"],
                                                   len(ing["reps"]["strata"]))
        def spread(key, fmt):
            return [fmt % m + " (%s–%s)" % (fmt % min(x[key] for x in ing["reps"][k]),
                                           fmt % max(x[key] for x in ing["reps"][k]))
                    for k, m in (("strata", s[key]), ("prometheus", p[key]))]

        out.append("| ingest: accepted samples/s on one core (%s; median (min–max)) | %s | %s | "
                   "%.3f |" % tuple([hdr] + spread("samples_per_s", "%.0f") +
                                    [r["samples_per_s"]]))
        out.append("| ingest: server CPU-seconds per million samples | %s | %s | %.3f |" % tuple(
            spread("cpu_s_per_m_samples", "%.3f") + [r["cpu_s_per_m_samples"]]))
        row("ingest: samples per server CPU-second", s["samples_per_cpu_s"],
            p["samples_per_cpu_s"], ratio_(s["samples_per_cpu_s"], p["samples_per_cpu_s"]))
        row("ingest: request latency p50 / p99 (ms)", None, None, None)
        out[-1] = "| ingest: request latency p50 / p99 (ms) | %.1f / %.1f | %.1f / %.1f | — |" % (
            s["latency_ms"]["p50"], s["latency_ms"]["p99"], p["latency_ms"]["p50"],
            p["latency_ms"]["p99"])
        row("ingest: errors (all repetitions)", s["errors"], p["errors"], None)
    mem = res.get("memory")
    if mem:
        s, p, r = mem["strata"], mem["prometheus"], mem["ratio"]
        row("memory: RSS idle, fresh (MiB)", s["rss_idle_kib"] / 1024, p["rss_idle_kib"] / 1024,
            r["rss_idle_kib"], "%.1f")
        row("memory: RSS with %s active series, %d samples each (MiB)" % (
            _n(s["head_series"]), mem["passes"]), s["rss_kib"] / 1024, p["rss_kib"] / 1024,
            r["rss_kib"], "%.1f")
        row("memory: RSS per active series, raw (bytes)", s["rss_per_series_b"],
            p["rss_per_series_b"], r["rss_per_series_b"])
        row("memory: RSS per active series, idle baseline subtracted (bytes)",
            s["rss_per_series_net_b"], p["rss_per_series_net_b"], r["rss_per_series_net_b"])
    if ing:
        s, p = ing["strata"], ing["prometheus"]
        row("memory: RSS after the ingest runs (%d series, MiB)" % ing["series"],
            s["rss_kib"] / 1024, p["rss_kib"] / 1024, ratio_(s["rss_kib"], p["rss_kib"]), "%.1f")
    if disk:
        s, p, r = disk["strata"], disk["prometheus"], disk["ratio"]
        row("disk: backfill of 24 h × %d series, samples/s" % disk["series"],
            s["backfill_samples_per_s"], p["backfill_samples_per_s"],
            ratio_(s["backfill_samples_per_s"], p["backfill_samples_per_s"]))
        row("disk: bytes per sample in blocks", s["block_bytes_per_sample"],
            p["block_bytes_per_sample"], r["block_bytes_per_sample"], "%.3f")
        out.append("| disk: blocks (samples in them) | %d (%s) | %d (%s) | — |" % (
            s["blocks"], _si(s["block_samples"]), p["blocks"], _si(p["block_samples"])))
        row("disk: whole data dir bytes per ingested sample", s["data_dir_bytes_per_sample"],
            p["data_dir_bytes_per_sample"], r["data_dir_bytes_per_sample"], "%.3f")
    if q:
        big = next((x for x in q["queries"] if x.get("largest")), None)
        row("query: geometric mean of latency ratios (%d queries)" % len(q["queries"]), None, None,
            q["geomean_ratio"])
        if big:
            for pre, what in (("first_run_", "first run"), ("", "after the timed runs")):
                sv = big.get("strata_%speak_rss_delta_kib" % pre)
                pv = big.get("prometheus_%speak_rss_delta_kib" % pre)
                row("query: peak RSS delta of `%s`, %s (MiB)" % (big["name"], what),
                    None if sv is None else sv / 1024, None if pv is None else pv / 1024,
                    ratio_(sv, pv), "%.1f")
        out.append("| query: answers that differ (evaluated 7 s off the 15 s sample grid) | %d of %d "
                   "| | |" % (q["mismatches"], len(q["queries"])))
        out.append("| query: answers that differ at grid-aligned evaluation times | %d of %d | | |"
                   % (q.get("aligned_mismatches", 0), len(q["queries"])))
    h = (res.get("http") or {}).get("summary")
    if h:
        out.append("| HTTP `/ready` keep-alive requests/s, p99 ms (peer: nginx 1 worker, "
                   "`bench/http/wrk_vs_nginx.sh`) | %s, %.2f | nginx %s, %.2f | %.3f, %.3f |" % (
                       _si(h["strata"]["rps"]), h["strata"]["p99_ms"], _si(h["nginx"]["rps"]),
                       h["nginx"]["p99_ms"], h["ratio_rps"], h["ratio_p99"]))
    out.append("")
    if q:
        out += ["Query suite (`bench/compare/queries.txt`), each ending at the end of the "
                "backfilled day, median of %d runs after one warm-up:" % q["runs"], "",
                "Answers are compared series by series and point by point (values within 1e-9 "
                "relative). The timed queries end 7 s off the 15 s grid the backfilled samples lie "
                "on, like real scrapes whose offsets are spread. At evaluation times on that grid "
                "the two servers are expected to differ: Prometheus 2.42 selects a range `[t - r, "
                "t]`, strata follows Prometheus 3 and selects `(t - r, t]`, so the sample on the left "
                "edge of every window counts in 2.42 only; those answers are compared too and "
                "counted in the table above.", "",
                "| query | range / step | series | strata ms | Prometheus ms | ratio | answers |",
                "|---|---|---|---|---|---|---|"]
        for x in q["queries"]:
            out.append("| `%s` | %dh / %ds | %d | %s | %s | %s | %s |" % (
                x["query"].replace("|", "\\|"), x["range_s"] // 3600, x["step_s"], x["series"],
                _n(x["strata_ms"], "%.1f"), _n(x["prometheus_ms"], "%.1f"),
                _n(x["ratio"], "%.2f"), "agree" if x["agree"] else
                "**DIFFER**: " + "; ".join(x["differences"])[:300].replace("|", "\\|")))
        out.append("")
    out += _logs_md(res.get("logs") or {})
    for phase, err in sorted((res.get("failed") or {}).items()):
        out += ["Phase `%s` **failed**: %s" % (phase, err.replace("|", "\\|")), ""]
    for img in imgs:
        out.append("![%s](img/%s)" % (img[:-4], img))
    out += ["", END]
    return "\n".join(out) + "\n"


def _logs_md(logs):
    if not logs:
        return []
    if logs.get("skipped"):
        return ["Logs scan: not run (%s)." % logs["skipped"], ""]
    summ = next((x for x in logs.get("results", []) if x.get("bench") == "logscan_summary"), None)
    if logs.get("exit") or not summ:
        err = " / ".join(" ".join(x.split()) for x in (logs.get("stderr") or "").splitlines()
                         if x.strip())
        return ["Logs scan (`bench/logs/run.sh`): **failed**, exit status %s%s." % (
            logs.get("exit"), (": `%s`" % err[:200].replace("`", "'")) if err else ""), ""]
    out = ["Logs scan (`bench/logs/run.sh`, %s of raw lines, one pinned core; its own JSON lines "
           "are in the document): GB of raw log per CPU-second." % (_si(summ.get("raw_bytes")) + "B"),
           "", "| query | strata | ripgrep (best mode) | ripgrep CPU / strata CPU |",
           "|---|---|---|---|"]
    for q in ("literal", "regex", "json_level_error", "needle"):
        if q + "_strata_gb_per_cpu_s" not in summ and q + "_rg_best_gb_per_cpu_s" not in summ:
            continue
        out.append("| %s | %s | %s (%s) | %s |" % (
            q, _n(summ.get(q + "_strata_gb_per_cpu_s"), "%.3f"),
            _n(summ.get(q + "_rg_best_gb_per_cpu_s"), "%.3f"), summ.get(q + "_rg_best_mode", "—"),
            _n(summ.get(q + "_cpu_s_ratio_rg_over_strata"), "%.3f")))
    return out + [""]


def ratio_(a, b):
    return a / b if a is not None and b else None


def rewrite_section(md_path, section):
    with open(md_path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        pre = text[:text.index(BEGIN)]
        post = text[text.index(END) + len(END):].lstrip("\n")
        text = pre + section + (("\n" + post) if post else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(md_path, "w") as f:
        f.write(text)
