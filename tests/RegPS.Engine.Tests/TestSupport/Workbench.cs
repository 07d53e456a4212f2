using System.Diagnostics;

namespace RegPS.Engine.Tests.TestSupport;

/// <summary>Runs only where Connectome Workbench's wb_command is installed, or always under CI (which installs it).</summary>
public sealed class WorkbenchFactAttribute : FactAttribute
{
    public WorkbenchFactAttribute()
    {
        if (!File.Exists(Workbench.Executable) && !Python.IsCI)
            Skip = $"skipped because {Workbench.Executable} (Debian package connectome-workbench) is not installed";
    }
}

/// <summary>Connectome Workbench, an independent reader of ITK/ANTs transform conventions.</summary>
public static class Workbench
{
    public const string Executable = "/usr/bin/wb_command";

    /// <summary>Runs wb_command with <paramref name="args"/>; fails the test when it fails or takes over a minute.</summary>
    public static void Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "wb_command timed out");
        Assert.True(p.ExitCode == 0, $"wb_command {string.Join(' ', args)} failed: {output} {err.Result}");
    }
}
