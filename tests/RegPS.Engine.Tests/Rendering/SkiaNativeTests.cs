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
}
