namespace RegPS.Engine.Tests.TestSupport;

/// <summary>
/// A fact that needs /usr/bin/python3 with the given modules (e.g. [PythonFact("nibabel")]). Skipped when they are
/// missing, except when the environment variable CI is "true": then it runs and fails loudly, since CI installs them.
/// </summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute(params string[] modules)
    {
        Modules = modules;
        if (PythonRequirement.SkipReason(modules) is { } reason) Skip = reason;
    }

    public string[] Modules { get; }
}

/// <summary>The theory counterpart of <see cref="PythonFactAttribute"/>.</summary>
public sealed class PythonTheoryAttribute : TheoryAttribute
{
    public PythonTheoryAttribute(params string[] modules)
    {
        Modules = modules;
        if (PythonRequirement.SkipReason(modules) is { } reason) Skip = reason;
    }

    public string[] Modules { get; }
}

internal static class PythonRequirement
{
    public static string? SkipReason(string[] modules)
    {
        if (Python.IsCI || Python.HasModules(modules)) return null;
        return $"Skipped because {Python.Executable} with {string.Join(", ", modules)} is not available (CI=true makes this a failure instead).";
    }
}
