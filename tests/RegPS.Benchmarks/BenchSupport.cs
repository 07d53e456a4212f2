using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;

namespace RegPS.Benchmarks;

/// <summary>
/// What the side-by-side comparisons (affine, series, syn) share: running a tool as its own process, under GNU time for
/// its wall time, CPU time and peak resident set; command-line options; finding repository files; medians; tables.
/// </summary>
internal static class BenchSupport
{
    public const string TimeExe = "/usr/bin/time";

    /// <summary>One process run under GNU time: wall seconds, user + system CPU seconds, peak resident MB, its output.</summary>
    public readonly record struct Timed(double Wall, double Cpu, double PeakMb, string Stdout, string Stderr);

    /// <summary>Runs <paramref name="file"/> under GNU time (process and the children it waits for); throws when it fails.</summary>
    public static Timed RunTimed(string file, IEnumerable<string> args, Dictionary<string, string>? env = null, string? workDir = null)
    {
        string timing = Path.GetTempFileName();
        var all = new List<string> { "-f", "%e %U %S %M", "-o", timing, file };
        all.AddRange(args);
        if (Exec(TimeExe, all, env, out var stdout, out var stderr, workDir) != 0)
            throw new InvalidOperationException($"{file} failed:\n{stderr}");
        var t = File.ReadAllText(timing).Trim().Split('\n').Last().Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        File.Delete(timing);
        return new Timed(t[0], t[1] + t[2], t[3] / 1024, stdout, stderr);
    }

    /// <summary>Runs a process to its end; prints the command and its standard error when it fails.</summary>
    public static int Exec(string file, IEnumerable<string> args, Dictionary<string, string>? env, out string stdout, out string stderr, string? workDir = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        if (workDir is not null) psi.WorkingDirectory = workDir;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        stderr = err.Result;
        if (p.ExitCode != 0) Console.Error.WriteLine($"{file} {string.Join(" ", args)} exited with {p.ExitCode}\n{stderr}");
        return p.ExitCode;
    }

    public static int Exec(string file, IEnumerable<string> args, out string stdout, out string stderr) => Exec(file, args, null, out stdout, out stderr);

    /// <summary>The value after the first <paramref name="name"/>, or null.</summary>
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The values after every <paramref name="name"/>.</summary>
    public static List<string> Options(string[] args, string name)
    {
        var list = new List<string>();
        for (int i = 0; i < args.Length - 1; i++) if (args[i] == name) list.Add(args[i + 1]);
        return list;
    }

    /// <summary>A repository file, looked for above the benchmark's folder (and, when asked, in the current folder).</summary>
    public static string FindFile(string relative, bool orCurrentDirectory = false)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, relative);
            if (File.Exists(p)) return p;
        }
        if (orCurrentDirectory && File.Exists(Path.GetFullPath(relative))) return Path.GetFullPath(relative);
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>The median (NaN for none).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    /// <summary>A 4x4 matrix from JSON rows.</summary>
    public static Matrix4 MatrixFrom(JsonElement e) =>
        Matrix4.FromRows(e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray());

    /// <summary>
    /// Options with NAME=VALUE settings applied by reflection, for experiments from the command line: arrays
    /// comma-separated, enums by name, "null" for a nullable setting. <paramref name="copy"/> copies the record
    /// (<c>o => o with { }</c>) before each change, so a shared instance is never changed.
    /// </summary>
    public static T WithSets<T>(T options, IEnumerable<string> sets, Func<T, T> copy) where T : class
    {
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=', StringComparison.Ordinal);
            var prop = typeof(T).GetProperty(s[..eq], System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
                ?? throw new ArgumentException($"{typeof(T).Name} has no property {s[..eq]}");
            string v = s[(eq + 1)..];
            var t = Nullable.GetUnderlyingType(prop.PropertyType) ?? prop.PropertyType;
            object? value = v == "null" ? null
                : t.IsArray ? ToArray(t.GetElementType()!, v.Split(',', StringSplitOptions.RemoveEmptyEntries))
                : t.IsEnum ? Enum.Parse(t, v, true)
                : Convert.ChangeType(v, t, CultureInfo.InvariantCulture);
            options = copy(options);
            prop.SetValue(options, value);
        }
        return options;

        static Array ToArray(Type e, string[] parts)
        {
            var a = Array.CreateInstance(e, parts.Length);
            for (int i = 0; i < parts.Length; i++)
                a.SetValue(e.IsEnum ? Enum.Parse(e, parts[i], true) : Convert.ChangeType(parts[i], e, CultureInfo.InvariantCulture), i);
            return a;
        }
    }

    /// <summary>A Markdown table, columns padded to their widest cell.</summary>
    public static void PrintTable(string[] header, List<string[]> rows)
    {
        var w = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine("| " + string.Join(" | ", header.Select((h, i) => h.PadRight(w[i]))) + " |");
        Console.WriteLine("|" + string.Join("|", w.Select(x => new string('-', x + 2))) + "|");
        foreach (var r in rows) Console.WriteLine("| " + string.Join(" | ", r.Select((c, i) => c.PadRight(w[i]))) + " |");
    }
}
