using System.Reflection;
using System.Runtime.InteropServices;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>
/// Finds SkiaSharp's native library (libSkiaSharp) and HarfBuzzSharp's (libHarfBuzzSharp, which ScottPlot's text
/// shaping uses) for hosts that do not read the runtimes/ layout of a deps.json, such as pwsh loading a module: the
/// module ships both libraries under &lt;dir of RegPS.Rendering.dll&gt;/&lt;rid&gt;/.
/// </summary>
public static class SkiaNative
{
    private const string LibraryName = "libSkiaSharp";
    internal const string HarfBuzzLibraryName = "libHarfBuzzSharp";
    private static readonly object Gate = new();
    private static bool _registered;

    /// <summary>
    /// Registers (once per process, thread-safe) a DllImport resolver for the SkiaSharp and HarfBuzzSharp assemblies that
    /// looks for libSkiaSharp (or libHarfBuzzSharp) in &lt;dir&gt;/&lt;rid&gt;/ and then &lt;dir&gt;/runtimes/&lt;rid&gt;/native/, where &lt;dir&gt; is the folder of
    /// RegPS.Rendering.dll. When neither holds it, the resolver returns IntPtr.Zero and the runtime's default probing
    /// runs. A resolver can be set only once per assembly; if someone else set one first, theirs stays.
    /// </summary>
    public static void EnsureResolver()
    {
        if (Volatile.Read(ref _registered)) return;
        lock (Gate)
        {
            if (_registered) return;
            foreach (var assembly in new[] { typeof(SKBitmap).Assembly, typeof(HarfBuzzSharp.Blob).Assembly })
            {
                try
                {
                    NativeLibrary.SetDllImportResolver(assembly, Resolve);
                }
                catch (InvalidOperationException)
                {
                    // A resolver is already registered for this assembly (by another copy of this code or by the host): keep it.
                }
            }
            Volatile.Write(ref _registered, true);
        }
    }

    /// <summary>
    /// The runtime identifier and native file name for an operating system ("linux", "osx" or "windows") and
    /// a process architecture, e.g. ("linux", X64) gives ("linux-x64", "libSkiaSharp.so"). Null for combinations
    /// this module does not ship. <paramref name="library"/> is libSkiaSharp by default, or libHarfBuzzSharp.
    /// </summary>
    public static (string Rid, string FileName)? NativeLibraryFor(string os, Architecture architecture, string library = LibraryName)
    {
        string? arch = architecture switch
        {
            Architecture.X64 => "x64",
            Architecture.Arm64 => "arm64",
            _ => null,
        };
        if (arch is null) return null;
        return os.ToLowerInvariant() switch
        {
            "linux" => ($"linux-{arch}", library + ".so"),
            "osx" or "macos" => ($"osx-{arch}", library + ".dylib"),
            "windows" or "win" => ($"win-{arch}", library + ".dll"),
            _ => null,
        };
    }

    /// <summary>The operating system name NativeLibraryFor expects, for the current process.</summary>
    internal static string CurrentOs() =>
        RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "windows" :
        RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx" :
        RuntimeInformation.IsOSPlatform(OSPlatform.Linux) ? "linux" : "unknown";

    /// <summary>Candidate full paths, most specific first, for the native library next to <paramref name="baseDirectory"/>.</summary>
    internal static IReadOnlyList<string> CandidatePaths(string baseDirectory, string os, Architecture architecture, string library = LibraryName)
    {
        var list = new List<string>();
        var mapped = NativeLibraryFor(os, architecture, library);
        if (mapped is null) return list;
        var (rid, file) = mapped.Value;
        list.Add(Path.Combine(baseDirectory, rid, file));
        list.Add(Path.Combine(baseDirectory, "runtimes", rid, "native", file));
        if (os is "osx" or "macos")
        {
            // SkiaSharp's and HarfBuzzSharp's macOS packages ship one universal binary under runtimes/osx/native.
            list.Add(Path.Combine(baseDirectory, "osx", file));
            list.Add(Path.Combine(baseDirectory, "runtimes", "osx", "native", file));
        }
        return list;
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string? library = libraryName.StartsWith(LibraryName, StringComparison.Ordinal) ? LibraryName
            : libraryName.StartsWith(HarfBuzzLibraryName, StringComparison.Ordinal) ? HarfBuzzLibraryName : null;
        if (library is null) return IntPtr.Zero;
        string? dir = Path.GetDirectoryName(typeof(SkiaNative).Assembly.Location);
        if (string.IsNullOrEmpty(dir)) return IntPtr.Zero;
        return LoadFrom(dir, CurrentOs(), RuntimeInformation.ProcessArchitecture, library);
    }

    /// <summary>Loads the first candidate that exists under <paramref name="baseDirectory"/>; IntPtr.Zero when none does (default probing then runs).</summary>
    internal static IntPtr LoadFrom(string baseDirectory, string os, Architecture architecture, string library = LibraryName)
    {
        foreach (var candidate in CandidatePaths(baseDirectory, os, architecture, library))
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        }
        return IntPtr.Zero;
    }
}
