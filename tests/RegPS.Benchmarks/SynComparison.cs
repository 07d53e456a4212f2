using RegPS.Engine.Fields;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Benchmarks;

/// <summary>
/// RegPS SynRegistration against DIPY 1.6 SymmetricDiffeomorphicRegistration(CCMetric(dim)) at DIPY's defaults on the
/// same inputs: DIPY's circle/C pair, the ITK brain slice and the ITK T1 volume warped by known smooth fields, and
/// (with --big) the T1 resampled to 193x229x193 1 mm. tests/bench/syn_dipy.py writes the inputs (raw float32 + JSON),
/// runs DIPY (each case in its own process; results are cached in the case folder, so a long DIPY run can be done
/// once in the background) and scores both recovered static->moving fields against the known warp.
///
/// Usage: compare syn [--dir DIR] [--big] [--rerun-dipy [case1,case2]] [--threads N] [--only case1,case2] [--repeat N] [--rounds N] [--micro] [--micro2d]
///
/// Each side registers the 2D cases 5 times and the 3D cases once (--repeat N for every case), in one process per side;
/// times are the median of those runs. When DIPY runs (not from its cache), the 2D cases alternate 3 rounds of a DIPY batch
/// and a RegPS batch (--rounds N), so that a slow stretch of the machine falls on both sides; the speed-up is the median
/// of the rounds' ratios, with their range. RegPS's first run in the process (which pays the JIT for the code it meets
/// first) is reported apart, with its own speed-up.
/// </summary>
public sealed class SynComparison : IComparison
{
    public string Name => "syn";
    public string Description => "SyN (CC) against DIPY 1.6 on 2D/3D images warped by known fields: time, memory, error, final CC";

    private static readonly string Script = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../bench/syn_dipy.py"));

    public int Run(string[] args)
    {
        string dir = Path.Combine(Path.GetTempPath(), "regps-syn-bench");
        bool big = args.Contains("--big");
        int rr = Array.IndexOf(args, "--rerun-dipy");
        // --rerun-dipy alone reruns DIPY for every case; --rerun-dipy a,b only for those cases
        var rerunOnly = rr >= 0 && rr + 1 < args.Length && !args[rr + 1].StartsWith("--", StringComparison.Ordinal) ? args[rr + 1].Split(',') : null;
        int threads = 0, repeatAll = 0, roundsAll = 0;
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--dir") dir = args[i + 1];
            if (args[i] == "--threads") threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--repeat") repeatAll = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--rounds") roundsAll = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }
        if (args.Contains("--micro")) { Micro(threads, 128, 128, 62); return Micro(threads, 32, 32, 24); }
        if (args.Contains("--micro2d")) return Micro(threads, 181, 217, 1);
        string script = File.Exists(Script) ? Script : Path.GetFullPath("tests/bench/syn_dipy.py");
        if (!File.Exists(Path.Combine(dir, "t1_3d", "static.raw")) || (big && !File.Exists(Path.Combine(dir, "t1_big", "static.raw"))))
            Python(script, "prepare", dir, big ? "--big" : "");
        var cases = new List<string> { "circle_c", "brain2d", "t1_3d" };
        if (big) cases.Add("t1_big");
        int only = Array.IndexOf(args, "--only");
        if (only >= 0 && only + 1 < args.Length) cases = args[only + 1].Split(',').ToList();
        var rows = new List<string[]>();
        foreach (var c in cases)
        {
            string cdir = Path.Combine(dir, c);
            var st = Load(Path.Combine(cdir, "static"));
            var mv = Load(Path.Combine(cdir, "moving"));
            int repeats = repeatAll > 0 ? repeatAll : st.Dimension == 2 ? 5 : 1;
            bool rerun = rr >= 0 && (rerunOnly is null || rerunOnly.Contains(c));
            bool live = rerun || !File.Exists(Path.Combine(cdir, "dipy.json"));
            int rounds = live ? (roundsAll > 0 ? roundsAll : st.Dimension == 2 ? 3 : 1) : 1;
            var proc = Process.GetCurrentProcess();
            var cpus = new List<double>(); var dipyMeds = new List<double>(); var regpsMeds = new List<double>(); var ratios = new List<double>();
            double first = double.NaN;
            DiffeomorphicMap? map = null;
            JsonElement dipy = default;
            for (int round = 0; round < rounds; round++)
            {
                if (live)
                {
                    Console.Error.WriteLine($"[{c}] round {round + 1}/{rounds}: running DIPY {repeats} time(s) ...");
                    Python(script, "dipy", dir, c, repeats.ToString(CultureInfo.InvariantCulture));
                }
                dipy = JsonDocument.Parse(File.ReadAllText(Path.Combine(cdir, "dipy.json"))).RootElement;
                Console.Error.WriteLine($"[{c}] round {round + 1}/{rounds}: running RegPS {repeats} time(s) on {st.Grid} ...");
                var times = new List<double>();
                for (int rep = 0; rep < repeats; rep++)
                {
                    proc.Refresh();
                    var cpu0 = proc.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    map = SynRegistration.Register(st, mv, null, new SynOptions { MaxDegreeOfParallelism = threads });
                    sw.Stop();
                    proc.Refresh();
                    times.Add(sw.Elapsed.TotalSeconds);
                    cpus.Add((proc.TotalProcessorTime - cpu0).TotalSeconds);
                }
                if (round == 0) first = times[0];
                double dm = dipy.GetProperty("seconds").GetDouble(), rm = Median(times);
                dipyMeds.Add(dm); regpsMeds.Add(rm); ratios.Add(dm / rm);
            }
            double regps = Median(regpsMeds), cpu = Median(cpus);
            double peak = PeakMb();
            WriteField(Path.Combine(cdir, "regps_forward.raw"), map!.Forward);
            var ev = new Dictionary<string, JsonElement>();
            foreach (var who in new[] { "dipy", "regps" })
                ev[who] = JsonDocument.Parse(Python(script, "evaluate", dir, c, who).Trim().Split('\n').Last()).RootElement;
            double dt = Median(dipyMeds);
            double dcpu = dipy.TryGetProperty("cpu_seconds", out var dc) ? dc.GetDouble() : double.NaN;
            string Err(string who, string key) => ev[who].TryGetProperty(key, out var e) ? e.GetDouble().ToString("0.000", CultureInfo.InvariantCulture) : "-";
            int dipyRuns = dipy.TryGetProperty("seconds_all", out var all) ? all.GetArrayLength() : 1;
            rows.Add(new[]
            {
                c, string.Join("x", st.Grid.Shape), rounds > 1 ? $"{rounds}x{repeats} / {rounds}x{dipyRuns}" : $"{repeats} / {dipyRuns}",
                dt.ToString("0.000", CultureInfo.InvariantCulture), regps.ToString("0.000", CultureInfo.InvariantCulture),
                Median(ratios).ToString("0.0", CultureInfo.InvariantCulture) + "x"
                    + (rounds > 1 ? $" ({ratios.Min().ToString("0.0", CultureInfo.InvariantCulture)}-{ratios.Max().ToString("0.0", CultureInfo.InvariantCulture)})" : ""),
                first.ToString("0.000", CultureInfo.InvariantCulture) + " (" + (dt / first).ToString("0.0", CultureInfo.InvariantCulture) + "x)",
                dcpu.ToString("0.00", CultureInfo.InvariantCulture) + " / " + cpu.ToString("0.00", CultureInfo.InvariantCulture),
                dipy.GetProperty("peak_mb").GetDouble().ToString("0", CultureInfo.InvariantCulture), peak.ToString("0", CultureInfo.InvariantCulture),
                Err("dipy", "median_err_vox") + " / " + Err("regps", "median_err_vox"),
                Err("dipy", "median_err_mm") + " / " + Err("regps", "median_err_mm"),
                Err("dipy", "final_cc") + " / " + Err("regps", "final_cc"),
                string.Join("+", map!.IterationsPerLevel), map.FoldedVoxels.ToString(CultureInfo.InvariantCulture),
            });
        }
        var header = new[] { "case", "shape", "runs RegPS / DIPY", "DIPY s", "RegPS s", "speed-up", "RegPS first run s", "CPU s (DIPY/RegPS)", "DIPY MB", "RegPS MB", "median err vox (DIPY/RegPS)", "median err mm", "final CC (DIPY/RegPS)", "RegPS iters", "folds" };
        Print(header, rows);
        Console.WriteLine($"load average at the end: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"threads: {(threads == 0 ? Environment.ProcessorCount : threads)}; DIPY 1.6 is single-threaded; times are medians of the runs (RegPS first run apart: it pays the JIT), speed-up the median of the rounds' ratios (range); RegPS MB = process peak resident set (VmHWM) after the case, cases run small to large; DIPY MB = ru_maxrss of its own process.");
        return 0;
    }

    /// <summary>Per-kernel cost on a 128x128x62 field (ns per voxel, wall and process CPU).</summary>
    private static int Micro(int threads, int mx, int my, int mz)
    {
        var grid = mz == 1 ? Grid.Create2D(mx, my, 1, 1) : Grid.Create3D(mx, my, mz, 2, 2, 3);
        Console.WriteLine($"--- {grid}; Vector<float>.Count {System.Numerics.Vector<float>.Count}, Vector256 accelerated {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}, Avx2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}");
        var fg = new RegPS.Engine.Fields.FieldGrid(grid);
        int n = grid.VoxelCount;
        var rnd = new Random(1);
        var a = new float[3 * n]; var b = new float[3 * n]; var c = new float[3 * n];
        for (int i = 0; i < a.Length; i++)
            if (mz > 1 || i % 3 != 2) { a[i] = (float)(rnd.NextDouble() - 0.5); b[i] = (float)(rnd.NextDouble() - 0.5); }
        var img = new float[n]; var img2 = new float[n];
        for (int i = 0; i < n; i++) { img[i] = (float)rnd.NextDouble(); img2[i] = (float)rnd.NextDouble(); }
        var rs = new double[grid.NY * grid.NZ]; var rm = new double[grid.NY * grid.NZ];
        var cc = new RegPS.Engine.Metrics.CrossCorrelationMetric(4, 2, grid.NY * grid.NZ);
        void T(string name, Action act)
        {
            act();
            var p = Process.GetCurrentProcess();
            var c0 = p.TotalProcessorTime; var sw = Stopwatch.StartNew();
            int reps = Math.Max(10, 10_000_000 / n);
            for (int r = 0; r < reps; r++) act();
            sw.Stop(); p.Refresh();
            var cpu = p.TotalProcessorTime - c0;
            Console.WriteLine($"{name,-22} wall {sw.Elapsed.TotalMilliseconds * 1e6 / n / reps:0.0} ns/voxel, cpu {cpu.TotalMilliseconds * 1e6 / n / reps:0.0} ns/voxel");
        }
        var z0 = new float[3 * n];
        T("compose zero d1", () => RegPS.Engine.Fields.FieldComposition.Compose(z0, b, fg, 1, c, rs, rm, threads));
        T("compose no stats", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, null, null, threads));
        T("compose", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, rs, rm, threads));
        T("invert (1 iter)", () => RegPS.Engine.Fields.FieldInversion.Invert(a, fg, 1, 0, 0, c, b, rs, rm, threads));
        T("compose 128-bit path", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Vector128));
        T("compose scalar path", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        T("invert 128-bit path", () => RegPS.Engine.Fields.FieldInversion.Invert(a, fg, 1, 0, 0, c, b, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Vector128));
        T("invert scalar path", () => RegPS.Engine.Fields.FieldInversion.Invert(a, fg, 1, 0, 0, c, b, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        T("warp", () => RegPS.Engine.Fields.FieldWarp.Warp(img, grid, Matrix4.Identity, a, fg, img2, threads));
        T("warp 128-bit path", () => RegPS.Engine.Fields.FieldWarp.Warp(img, grid, Matrix4.Identity, a, fg, img2, threads, RegPS.Engine.Simd.VectorPath.Vector128));
        T("warp scalar path", () => RegPS.Engine.Fields.FieldWarp.Warp(img, grid, Matrix4.Identity, a, fg, img2, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        T("smooth field s=2", () => RegPS.Engine.Fields.FieldSmoothing.Smooth(c, 3, mx, my, mz, mz == 1 ? new double[] { 2, 2, 0 } : new double[] { 2, 2, 2 }, threads));
        var sums = new double[5 * n];
        T("box sums r=4", () => RegPS.Engine.Metrics.CrossCorrelationMetric.BoxSums(img, img2, mx, my, mz, 4, sums, threads));
        T("cc steps (incl smooth)", () => cc.ComputeSteps(img, img2, fg, b, c, threads));
        var cc128 = new RegPS.Engine.Metrics.CrossCorrelationMetric(4, 2, grid.NY * grid.NZ) { Path = RegPS.Engine.Simd.VectorPath.Vector128 };
        var ccScalar = new RegPS.Engine.Metrics.CrossCorrelationMetric(4, 2, grid.NY * grid.NZ) { Path = RegPS.Engine.Simd.VectorPath.Scalar };
        T("cc steps 128-bit path", () => cc128.ComputeSteps(img, img2, fg, b, c, threads));
        T("cc steps scalar path", () => ccScalar.ComputeSteps(img, img2, fg, b, c, threads));
        return 0;
    }

    private static void Print(string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine("| " + string.Join(" | ", header.Select((h, i) => h.PadRight(widths[i]))) + " |");
        Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
        foreach (var r in rows) Console.WriteLine("| " + string.Join(" | ", r.Select((x, i) => x.PadRight(widths[i]))) + " |");
    }

    internal static Image Load(string path)
    {
        var meta = JsonDocument.Parse(File.ReadAllText(path + ".json")).RootElement;
        var shape = meta.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var aff = meta.GetProperty("affine").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        var bytes = File.ReadAllBytes(path + ".raw");
        var data = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, data, 0, bytes.Length);
        var grid = shape.Length == 2
            ? new Grid(shape[0], shape[1], 1, Matrix4.FromRows(aff), 2)
            : new Grid(shape[0], shape[1], shape[2], Matrix4.FromRows(aff), 3);
        return Image.FromVoxels(grid, data);
    }

    private static void WriteField(string path, DisplacementField f)
    {
        var v = f.Values.ToArray();
        var bytes = new byte[v.Length * 4];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(path, bytes);
    }

    private static double Median(List<double> v)
    {
        var s = v.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static double PeakMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    private static string Python(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in args) if (a.Length > 0) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"python {string.Join(' ', args)} failed: {err.Result}");
        return output;
    }
}
