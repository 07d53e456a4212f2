using RegPS.Engine.Images;
using RegPS.Engine.Tests.TestSupport;
using RegPS.Rendering;

namespace RegPS.Engine.Tests.Rendering;

public sealed class StereoOverlayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-overlay-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private const int W = 64, H = 48;

    // Static: a disc of 100 centred at (24, 24), radius 12 (x 12..36), with one voxel of 50 at (20, 30) and a
    // negative voxel at (16, 20). Moving: a square of 7 over x 30..50, y 14..34. They overlap around x 30..36.
    private static (Image Static, Image Moving) Pair2D()
    {
        var g = Grid.Create2D(W, H);
        var s = new float[W * H];
        var m = new float[W * H];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                if ((x - 24) * (x - 24) + (y - 24) * (y - 24) <= 144) s[y * W + x] = 100;
                if (x >= 30 && x <= 50 && y >= 14 && y <= 34) m[y * W + x] = 7;
            }
        s[30 * W + 20] = 50;
        s[20 * W + 16] = -40;
        return (new Image(g, s), new Image(g, m));
    }

    private PngPixels WriteAndLoad(Image s, Image m, OverlayOptions o)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".png");
        StereoOverlay.WritePng(s, m, path, o);
        return PngPixels.Load(path);
    }

    [Fact]
    public void Red_static_green_moving_yellow_both_black_elsewhere()
    {
        var (s, m) = Pair2D();
        const int k = 3;
        var px = WriteAndLoad(s, m, new OverlayOptions { Scale = k });
        Assert.Equal((W * k, H * k), (px.Width, px.Height));
        // Every pixel of a voxel's k x k block has the voxel's colour; 2D images are drawn row 0 at the top.
        (byte, byte, byte) At(int x, int y) => px[x * k + k - 1, y * k + 1];
        Assert.Equal(((byte)255, (byte)0, (byte)0), At(16, 24));   // static only
        Assert.Equal(((byte)0, (byte)255, (byte)0), At(45, 24));   // moving only
        Assert.Equal(((byte)255, (byte)255, (byte)0), At(33, 24)); // both
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(5, 5));       // neither
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(60, 45));
        Assert.Equal(((byte)128, (byte)0, (byte)0), At(20, 30));   // 50 / max 100 * 255 = 127.5 -> 128
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(16, 20));     // negative clamps to 0
        // Row 0 at the top: the disc's top edge (y = 12) is 12 voxels below the top of the picture.
        Assert.Equal(((byte)255, (byte)0, (byte)0), At(24, 12));
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(24, 11));
    }

    [Fact]
    public void Magenta_green_is_colour_blind_safe()
    {
        var (s, m) = Pair2D();
        var px = PngPixels.FromBitmap(StereoOverlay.Render(s, m, new OverlayOptions { Colours = OverlayColours.MagentaGreen, Scale = 1 }));
        Assert.Equal(((byte)255, (byte)0, (byte)255), px[16, 24]);
        Assert.Equal(((byte)0, (byte)255, (byte)0), px[45, 24]);
        Assert.Equal(((byte)255, (byte)255, (byte)255), px[33, 24]);
        Assert.Equal(((byte)0, (byte)0, (byte)0), px[5, 5]);
    }

    [Fact]
    public void Three_panels_show_static_grey_moving_grey_and_overlay()
    {
        var (s, m) = Pair2D();
        const int k = 2, gap = 4;
        var px = WriteAndLoad(s, m, new OverlayOptions { Layout = OverlayLayout.ThreePanel, Scale = k, PanelGap = gap });
        int pw = W * k;
        Assert.Equal((3 * pw + 2 * gap, H * k), (px.Width, px.Height));
        (byte, byte, byte) At(int panel, int x, int y) => px[panel * (pw + gap) + x * k, y * k];
        var white = ((byte)255, (byte)255, (byte)255);
        var black = ((byte)0, (byte)0, (byte)0);
        Assert.Equal(white, At(0, 16, 24));  // static panel: disc
        Assert.Equal(black, At(0, 45, 24));
        Assert.Equal(((byte)128, (byte)128, (byte)128), At(0, 20, 30));
        Assert.Equal(black, At(1, 16, 24));  // moving panel: square
        Assert.Equal(white, At(1, 45, 24));
        Assert.Equal(((byte)255, (byte)0, (byte)0), At(2, 16, 24));  // overlay panel
        Assert.Equal(((byte)0, (byte)255, (byte)0), At(2, 45, 24));
        Assert.Equal(((byte)255, (byte)255, (byte)0), At(2, 33, 24));
        var gapColour = (StereoOverlay.GapGrey, StereoOverlay.GapGrey, StereoOverlay.GapGrey);
        Assert.Equal(gapColour, px[pw, 10]);
        Assert.Equal(gapColour, px[2 * pw + gap + gap - 1, 10]);
    }

    [Fact]
    public void Default_scale_makes_the_picture_at_least_256_wide()
    {
        var (s, m) = Pair2D();
        using var bmp = StereoOverlay.Render(s, m);
        Assert.Equal(256, bmp.Width);   // 64 * 4
        Assert.Equal(192, bmp.Height);
        var big = new Image(Grid.Create2D(300, 2), new float[600]);
        using var one = StereoOverlay.Render(big, big);
        Assert.Equal(300, one.Width);
    }

    // A 3D pair of 20 x 16 x 12 voxels (i, j, k). Static has a marker at (3, 4, 7), moving at (10, 12, 7);
    // a decoy of both sits in slice k = 5 at (15, 2, 5), and a marker of static in the middle slice k = 6 at (8, 8, 6).
    private static (Image Static, Image Moving) Pair3D()
    {
        var g = Grid.Create3D(20, 16, 12, 2, 2, 3);
        var s = new float[g.VoxelCount];
        var m = new float[g.VoxelCount];
        s[g.Index(3, 4, 7)] = 10;
        m[g.Index(10, 12, 7)] = 10;
        s[g.Index(15, 2, 5)] = 10; m[g.Index(15, 2, 5)] = 10;
        s[g.Index(8, 8, 6)] = 10;
        return (new Image(g, s), new Image(g, m));
    }

    private static List<(int X, int Y, (byte, byte, byte) C)> NonBlack(PngPixels px)
    {
        var list = new List<(int, int, (byte, byte, byte))>();
        for (int y = 0; y < px.Height; y++)
            for (int x = 0; x < px.Width; x++)
                if (px[x, y] != (0, 0, 0)) list.Add((x, y, px[x, y]));
        return list;
    }

    [Fact]
    public void Axis_and_slice_pick_the_right_plane_with_index_increasing_upwards()
    {
        var (s, m) = Pair3D();
        var red = ((byte)255, (byte)0, (byte)0);
        var green = ((byte)0, (byte)255, (byte)0);

        // Axial k = 7: i across (20), j up (16): voxel (i, j) at pixel (i, 15 - j).
        var px = PngPixels.FromBitmap(StereoOverlay.Render(s, m, new OverlayOptions { Axis = SliceAxis.Axial, Slice = 7, Scale = 1 }));
        Assert.Equal((20, 16), (px.Width, px.Height));
        Assert.Equal(new[] { (10, 3, green), (3, 11, red) }, NonBlack(px));

        // Coronal j = 4: i across (20), k up (12): voxel (i, k) at pixel (i, 11 - k).
        px = PngPixels.FromBitmap(StereoOverlay.Render(s, m, new OverlayOptions { Axis = SliceAxis.Coronal, Slice = 4, Scale = 1 }));
        Assert.Equal((20, 12), (px.Width, px.Height));
        Assert.Equal(new[] { (3, 4, red) }, NonBlack(px));

        // Sagittal i = 15: j across (16), k up (12): the decoy (j 2, k 5) at pixel (2, 6), in yellow.
        px = PngPixels.FromBitmap(StereoOverlay.Render(s, m, new OverlayOptions { Axis = SliceAxis.Sagittal, Slice = 15, Scale = 1 }));
        Assert.Equal((16, 12), (px.Width, px.Height));
        Assert.Equal(new[] { (2, 6, ((byte)255, (byte)255, (byte)0)) }, NonBlack(px));

        // Default slice is the middle one, k = 12 / 2 = 6.
        px = PngPixels.FromBitmap(StereoOverlay.Render(s, m, new OverlayOptions { Scale = 1 }));
        Assert.Equal(new[] { (8, 7, red) }, NonBlack(px));

        // Index increasing downwards on request: voxel (3, 4) at pixel row 4.
        px = PngPixels.FromBitmap(StereoOverlay.Render(s, m, new OverlayOptions { Slice = 7, Scale = 1, IndexIncreasesUp = false }));
        Assert.Equal(new[] { (3, 4, red), (10, 12, green) }, NonBlack(px));
    }

    [Fact]
    public void Slice_outside_the_image_is_refused()
    {
        var (s, m) = Pair3D();
        Assert.Throws<ArgumentOutOfRangeException>(() => StereoOverlay.Render(s, m, new OverlayOptions { Axis = SliceAxis.Sagittal, Slice = 20 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => StereoOverlay.Render(s, m, new OverlayOptions { Slice = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => StereoOverlay.Render(s, m, new OverlayOptions { Scale = 0 }));
    }

    [Fact]
    public void Mismatched_grids_throw_with_guidance()
    {
        var (s, _) = Pair2D();
        var otherShape = new Image(Grid.Create2D(W, H + 1), new float[W * (H + 1)]);
        var ex = Assert.Throws<ArgumentException>(() => StereoOverlay.Render(s, otherShape));
        Assert.Contains("different grids", ex.Message);
        Assert.Contains("Resample the moving image onto the static image", ex.Message);
        Assert.Contains("Convert-RegImage", ex.Message);

        var shifted = new Image(new Grid(W, H, 1, Matrix4.Translation(5, 0, 0), 2), new float[W * H]);
        Assert.Throws<ArgumentException>(() => StereoOverlay.Render(s, shifted));
        string path = Path.Combine(_dir, "never.png");
        Assert.Throws<ArgumentException>(() => StereoOverlay.WritePng(s, shifted, path));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Write_is_atomic_and_refuses_overwrite()
    {
        var (s, m) = Pair2D();
        string missing = Path.Combine(_dir, "no-such-dir", "o.png");
        Assert.ThrowsAny<IOException>(() => StereoOverlay.WritePng(s, m, missing));
        Assert.False(Directory.Exists(Path.GetDirectoryName(missing)));

        string path = Path.Combine(_dir, "o.png");
        StereoOverlay.WritePng(s, m, path, new OverlayOptions { Scale = 1 });
        var ex = Assert.Throws<IOException>(() => StereoOverlay.WritePng(s, m, path, new OverlayOptions { Scale = 2 }));
        Assert.Contains(path, ex.Message);
        Assert.Equal(W, PngPixels.Load(path).Width);
        StereoOverlay.WritePng(s, m, path, new OverlayOptions { Scale = 2 }, overwrite: true);
        Assert.Equal(2 * W, PngPixels.Load(path).Width);
        Assert.Single(Directory.GetFiles(_dir)); // no temporary files left behind
    }

    [Fact]
    public void Same_image_twice_is_pure_yellow_grey_and_bytes_are_deterministic()
    {
        var img = PhotoIO.Read(Samples.Path("BrainProtonDensitySlice.png"));
        var px = PngPixels.FromBitmap(StereoOverlay.Render(img, img, new OverlayOptions { Scale = 1 }));
        float max = 0;
        foreach (var v in img.Voxels) max = Math.Max(max, v);
        for (int y = 0; y < px.Height; y++)
            for (int x = 0; x < px.Width; x++)
            {
                var (r, g, b) = px[x, y];
                Assert.Equal(r, g);
                Assert.Equal(0, b);
                Assert.Equal((int)Math.Round(img[x, y] / max * 255, MidpointRounding.AwayFromZero), r);
            }
        string a = Path.Combine(_dir, "a.png"), b2 = Path.Combine(_dir, "b.png");
        StereoOverlay.WritePng(img, img, a);
        StereoOverlay.WritePng(img, img, b2);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b2));
    }

    [Fact]
    public void Titles_add_a_strip_with_text_over_the_right_panels_and_leave_the_pictures_alone()
    {
        var (s, m) = Pair2D();
        const int k = 2, gap = 4;
        var plain = new OverlayOptions { Layout = OverlayLayout.ThreePanel, Scale = k, PanelGap = gap };
        var titled = plain with { StaticTitle = "static", OverlayTitle = "overlay" };
        var a = PngPixels.FromBitmap(StereoOverlay.Render(s, m, plain));
        var t = PngPixels.FromBitmap(StereoOverlay.Render(s, m, titled));
        int strip = StereoOverlay.TitleStripHeight, pw = W * k;
        Assert.Equal((a.Width, a.Height + strip), (t.Width, t.Height));
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
                Assert.True(a[x, y] == t[x, y + strip], $"picture pixel ({x}, {y}) changed by the titles");

        int Bright(int x0, int x1)
        {
            int count = 0;
            for (int y = 0; y < strip; y++)
                for (int x = x0; x < x1; x++)
                {
                    var (r, g, b) = t[x, y];
                    Assert.True(r == g && g == b, "title text is grey-white on black");
                    if (r > 200) count++;
                }
            return count;
        }
        Assert.True(Bright(0, pw) > 20);                          // "static" over the static panel
        Assert.Equal(0, Bright(pw + gap, 2 * pw + gap));          // no moving title: the strip stays black there
        Assert.True(Bright(2 * (pw + gap), 3 * pw + 2 * gap) > 20);

        // A static title alone means nothing in the overlay-only layout: no strip.
        using var overlayOnly = StereoOverlay.Render(s, m, new OverlayOptions { Scale = k, StaticTitle = "ignored" });
        Assert.Equal(H * k, overlayOnly.Height);

        string p1 = Path.Combine(_dir, "t1.png"), p2 = Path.Combine(_dir, "t2.png");
        StereoOverlay.WritePng(s, m, p1, titled);
        StereoOverlay.WritePng(s, m, p2, titled);
        Assert.Equal(File.ReadAllBytes(p1), File.ReadAllBytes(p2));
    }
}
