using System.Runtime.InteropServices;
using RegPS.Rendering;

namespace RegPS.Engine.Tests.Rendering;

public class SkiaNativeTests
{
    [Theory]
    [InlineData("linux", Architecture.X64, "linux-x64", "libSkiaSharp.so")]
    [InlineData("linux", Architecture.Arm64, "linux-arm64", "libSkiaSharp.so")]
    [InlineData("osx", Architecture.X64, "osx-x64", "libSkiaSharp.dylib")]
    [InlineData("osx", Architecture.Arm64, "osx-arm64", "libSkiaSharp.dylib")]
    [InlineData("windows", Architecture.X64, "win-x64", "libSkiaSharp.dll")]
    [InlineData("windows", Architecture.Arm64, "win-arm64", "libSkiaSharp.dll")]
    public void Maps_os_and_architecture_to_rid_and_file(string os, Architecture arch, string rid, string file)
    {
        var mapped = SkiaNative.NativeLibraryFor(os, arch);
        Assert.NotNull(mapped);
        Assert.Equal(rid, mapped.Value.Rid);
        Assert.Equal(file, mapped.Value.FileName);
    }

    [Fact]
    public void Unshipped_combinations_map_to_nothing()
    {
        Assert.Null(SkiaNative.NativeLibraryFor("linux", Architecture.X86));
        Assert.Null(SkiaNative.NativeLibraryFor("freebsd", Architecture.X64));
    }

    [Fact]
    public void Candidates_look_beside_the_dll_then_in_runtimes()
    {
        var c = SkiaNative.CandidatePaths("/m", "linux", Architecture.X64);
        Assert.Equal(new[] { Path.Combine("/m", "linux-x64", "libSkiaSharp.so"), Path.Combine("/m", "runtimes", "linux-x64", "native", "libSkiaSharp.so") }, c);
        var mac = SkiaNative.CandidatePaths("/m", "osx", Architecture.Arm64);
        Assert.Contains(Path.Combine("/m", "runtimes", "osx", "native", "libSkiaSharp.dylib"), mac);
    }

    [Fact]
    public void Resolver_is_idempotent_and_rendering_works_after_it()
    {
        // Twice from several threads: the second registration must not throw.
        System.Threading.Tasks.Parallel.For(0, 4, _ => SkiaNative.EnsureResolver());
        SkiaNative.EnsureResolver();
        var g = RegPS.Engine.Images.Grid.Create2D(4, 3);
        var img = new RegPS.Engine.Images.Image(g, new float[12]);
        using var bmp = StereoOverlay.Render(img, img, new OverlayOptions { Scale = 1 });
        Assert.Equal(4, bmp.Width);
        Assert.Equal(3, bmp.Height);
    }

    [Fact]
    public void Loads_the_library_from_the_module_layout_and_falls_back_when_absent()
    {
        // The test run has SkiaSharp's normal runtimes/<rid>/native layout; copy the library into the flat
        // <dir>/<rid>/ layout the module ships and check that the resolver's search finds and loads it there.
        var mapped = SkiaNative.NativeLibraryFor(SkiaNative.CurrentOs(), RuntimeInformation.ProcessArchitecture);
        Assert.NotNull(mapped);
        string source = Path.Combine(AppContext.BaseDirectory, "runtimes", mapped.Value.Rid, "native", mapped.Value.FileName);
        if (!File.Exists(source)) // macOS ships one universal binary under runtimes/osx/native
            source = Path.Combine(AppContext.BaseDirectory, "runtimes", "osx", "native", mapped.Value.FileName);
        Assert.True(File.Exists(source), $"the test output should contain {source}");

        string dir = Directory.CreateTempSubdirectory("regps-native-").FullName;
        try
        {
            Assert.Equal(IntPtr.Zero, SkiaNative.LoadFrom(dir, SkiaNative.CurrentOs(), RuntimeInformation.ProcessArchitecture));
            Directory.CreateDirectory(Path.Combine(dir, mapped.Value.Rid));
            File.Copy(source, Path.Combine(dir, mapped.Value.Rid, mapped.Value.FileName));
            var handle = SkiaNative.LoadFrom(dir, SkiaNative.CurrentOs(), RuntimeInformation.ProcessArchitecture);
            Assert.NotEqual(IntPtr.Zero, handle);
            Assert.True(NativeLibrary.TryGetExport(handle, "sk_bitmap_new", out _));
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Theory]
    [InlineData("linux", Architecture.X64, "linux-x64", "libHarfBuzzSharp.so")]
    [InlineData("osx", Architecture.Arm64, "osx-arm64", "libHarfBuzzSharp.dylib")]
    [InlineData("windows", Architecture.X64, "win-x64", "libHarfBuzzSharp.dll")]
    public void Maps_the_text_shaper_library_too(string os, Architecture arch, string rid, string file)
    {
        var mapped = SkiaNative.NativeLibraryFor(os, arch, SkiaNative.HarfBuzzLibraryName);
        Assert.Equal((rid, file), mapped);
    }

    [Fact]
    public void Loads_the_text_shaper_from_the_module_layout()
    {
        // ScottPlot (the motion plot) shapes text with HarfBuzz: the module ships libHarfBuzzSharp as <dir>/<rid>/ too.
        var mapped = SkiaNative.NativeLibraryFor(SkiaNative.CurrentOs(), RuntimeInformation.ProcessArchitecture, SkiaNative.HarfBuzzLibraryName);
        Assert.NotNull(mapped);
        string source = Path.Combine(AppContext.BaseDirectory, "runtimes", mapped.Value.Rid, "native", mapped.Value.FileName);
        if (!File.Exists(source))
            source = Path.Combine(AppContext.BaseDirectory, "runtimes", "osx", "native", mapped.Value.FileName);
        Assert.True(File.Exists(source), $"the test output should contain {source}");
        string dir = Directory.CreateTempSubdirectory("regps-native-").FullName;
        try
        {
            Assert.Equal(IntPtr.Zero, SkiaNative.LoadFrom(dir, SkiaNative.CurrentOs(), RuntimeInformation.ProcessArchitecture, SkiaNative.HarfBuzzLibraryName));
            Directory.CreateDirectory(Path.Combine(dir, mapped.Value.Rid));
            File.Copy(source, Path.Combine(dir, mapped.Value.Rid, mapped.Value.FileName));
            var handle = SkiaNative.LoadFrom(dir, SkiaNative.CurrentOs(), RuntimeInformation.ProcessArchitecture, SkiaNative.HarfBuzzLibraryName);
            Assert.NotEqual(IntPtr.Zero, handle);
            Assert.True(NativeLibrary.TryGetExport(handle, "hb_blob_create", out _));
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
