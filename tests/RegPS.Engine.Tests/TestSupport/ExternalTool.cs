using System.Diagnostics;

namespace RegPS.Engine.Tests.TestSupport;

/// <summary>
/// An independent command-line tool from a Debian package that tests check RegPS against: its facts run where it is
/// installed, or always under CI (which installs it, so a missing tool fails there instead of skipping).
/// </summary>
public sealed record ExternalTool(string Executable, string Package, int TimeoutSeconds)
{
    public string? SkipReason => File.Exists(Executable) || Python.IsCI
        ? null
        : $"skipped because {Executable} (Debian package {Package}) is not installed";

    /// <summary>Runs the tool with <paramref name="args"/>; fails the test when it fails or runs past its time limit.</summary>
    public void Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        string name = Path.GetFileName(Executable);
        Assert.True(p.WaitForExit(TimeoutSeconds * 1000), $"{name} timed out");
        Assert.True(p.ExitCode == 0, $"{name} {string.Join(' ', args)} failed: {output} {err.Result}");
    }
}

/// <summary>Connectome Workbench, an independent reader of ITK/ANTs transform conventions.</summary>
public static class Workbench
{
    public static readonly ExternalTool Tool = new("/usr/bin/wb_command", "connectome-workbench", 60);
    public const string Executable = "/usr/bin/wb_command";
    public static void Run(params string[] args) => Tool.Run(args);
}

/// <summary>elastix's transformix, an independent ITK-based resampler.</summary>
public static class Transformix
{
    public static readonly ExternalTool Tool = new("/usr/bin/transformix", "elastix", 120);
    public const string Executable = "/usr/bin/transformix";
    public static void Run(params string[] args) => Tool.Run(args);
}

/// <summary>Runs only where wb_command is installed, or always under CI.</summary>
public sealed class WorkbenchFactAttribute : FactAttribute
{
    public WorkbenchFactAttribute() => Skip = Workbench.Tool.SkipReason;
}

/// <summary>Runs only where transformix is installed, or always under CI.</summary>
public sealed class TransformixFactAttribute : FactAttribute
{
    public TransformixFactAttribute() => Skip = Transformix.Tool.SkipReason;
}
