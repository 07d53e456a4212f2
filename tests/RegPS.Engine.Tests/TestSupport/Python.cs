using System.Collections.Concurrent;
using System.Diagnostics;

namespace RegPS.Engine.Tests.TestSupport;

/// <summary>
/// Runs /usr/bin/python3 for cross-checks against the real clients (nibabel, DIPY). Scripts live in tests/interop/.
/// </summary>
public static class Python
{
    public const string Executable = "/usr/bin/python3";

    /// <summary>Default time limit of one script run.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    private static readonly ConcurrentDictionary<string, bool> ModuleCache = new();

    /// <summary>True when CI=true: Python tests must run there (CI installs the modules), so they fail instead of skipping.</summary>
    public static bool IsCI => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The repository's tests/interop folder (found by walking up from the test assembly).</summary>
    public static string InteropDirectory { get; } = FindInteropDirectory();

    private static string FindInteropDirectory()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "interop");
            if (Directory.Exists(candidate)) return candidate;
        }
        return Path.Combine(AppContext.BaseDirectory, "tests", "interop");
    }

    /// <summary>True when /usr/bin/python3 exists and imports every one of <paramref name="modules"/> (cached).</summary>
    public static bool HasModules(params string[] modules)
    {
        string key = string.Join(",", modules.OrderBy(m => m, StringComparer.Ordinal));
        return ModuleCache.GetOrAdd(key, _ =>
        {
            if (!File.Exists(Executable)) return false;
            try
            {
                var r = RunProcess(new[] { "-c", string.Join("; ", modules.Select(m => "import " + m).DefaultIfEmpty("pass")) }, TimeSpan.FromSeconds(60));
                return r.ExitCode == 0;
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or TimeoutException)
            {
                return false;
            }
        });
    }

    /// <summary>
    /// Runs tests/interop/<paramref name="script"/> with <paramref name="args"/> and returns its standard output.
    /// Throws when it exits non-zero (with its standard error) or runs past <paramref name="timeout"/>.
    /// </summary>
    public static string Run(string script, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        string path = Path.IsPathRooted(script) ? script : Path.Combine(InteropDirectory, script);
        if (!File.Exists(path)) throw new FileNotFoundException($"Interop script {path} does not exist.", path);
        var r = RunProcess(new[] { path }.Concat(args), timeout ?? DefaultTimeout);
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"{Executable} {script} {string.Join(" ", args)} exited with {r.ExitCode}:\n{r.Stderr}");
        return r.Stdout;
    }

    public static string Run(string script, params string[] args) => Run(script, args, null);

    private static (int ExitCode, string Stdout, string Stderr) RunProcess(IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {Executable}.");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{Executable} {string.Join(" ", psi.ArgumentList)} did not finish within {timeout}.");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
