namespace RegPS.Engine.Tests.TestSupport;

/// <summary>
/// A fact that reads a file some Debian package installs (e.g. [PackageFileFact(PackageFile.Coffee, "python3-skimage")]).
/// Skipped, with the file and the package named, where the file is absent; when the environment variable CI is "true"
/// it runs and fails instead, since CI installs the package. Prefer the module's bundled samples
/// (<see cref="Samples"/>) or a generated image: this is for ground truth that only the package's file carries.
/// </summary>
public sealed class PackageFileFactAttribute : FactAttribute
{
    public PackageFileFactAttribute(string path, string package)
    {
        FilePath = path;
        Package = package;
        if (PackageFile.SkipReason(path, package) is { } reason) Skip = reason;
    }

    public string FilePath { get; }
    public string Package { get; }
}

public static class PackageFile
{
    /// <summary>scikit-image's coffee.png (600x400 RGB), from Debian's python3-skimage.</summary>
    public const string Coffee = "/usr/lib/python3/dist-packages/skimage/data/coffee.png";

    /// <summary>scikit-image's truncated.jpg (a JPEG cut short by its authors), from Debian's python3-skimage.</summary>
    public const string TruncatedJpeg = "/usr/lib/python3/dist-packages/skimage/data/truncated.jpg";

    public const string Skimage = "python3-skimage";

    /// <summary>Null when <paramref name="path"/> exists or CI=true; otherwise why the test is skipped.</summary>
    public static string? SkipReason(string path, string package)
    {
        if (Python.IsCI || File.Exists(path)) return null;
        return $"Skipped because {path} (from the Debian package {package}) is not installed (CI=true makes this a failure instead).";
    }
}

/// <summary>The module's bundled sample data (module/samples), found by walking up from the test assembly.</summary>
public static class Samples
{
    public static string Directory { get; } = Find();

    /// <summary>The full path of a bundled sample; the test fails (the repository is incomplete) when it is missing.</summary>
    public static string Path(string name)
    {
        string p = System.IO.Path.Combine(Directory, name);
        if (!File.Exists(p)) throw new FileNotFoundException($"The bundled sample {p} is missing from the repository.", p);
        return p;
    }

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = System.IO.Path.Combine(d.FullName, "module", "samples");
            if (System.IO.Directory.Exists(candidate)) return candidate;
        }
        return System.IO.Path.Combine(AppContext.BaseDirectory, "module", "samples");
    }
}
