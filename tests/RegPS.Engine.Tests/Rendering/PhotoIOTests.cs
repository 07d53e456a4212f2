using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Tests.TestSupport;
using RegPS.Rendering;
using SkiaSharp;

namespace RegPS.Engine.Tests.Rendering;

public sealed class PhotoIOTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-photo-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // Ground truth from Pillow 9.4 (Image.open(f).convert('RGB')), an independent decoder:
    // BrainProtonDensitySlice.png (the bundled sample, byte for byte ITK's Examples/Data file) is a 181x217 palette
    // PNG whose palette is grey; sum 4860107;
    // pixel (column 90, row 100) = 189, (20, 10) = 5, (60, 150) = 164.
    [Fact]
    public void Reads_itk_palette_png_as_greyscale_matching_pillow()
    {
        var img = PhotoIO.Read(Samples.Path("BrainProtonDensitySlice.png"));
        Assert.Equal(2, img.Dimension);
        Assert.Equal(new[] { 181, 217 }, img.Grid.Shape);
        Assert.False(img.IsColour);
        Assert.Equal("uint8", img.DataType);
        Assert.Equal(Matrix4.Identity, img.Grid.GridToWorld);
        Assert.EndsWith("BrainProtonDensitySlice.png", img.SourcePath);
        double sum = 0;
        foreach (var v in img.Voxels) sum += v;
        Assert.Equal(4860107.0, sum);
        Assert.Equal(189f, img[90, 100]);
        Assert.Equal(5f, img[20, 10]);
        Assert.Equal(164f, img[60, 150]);
    }

    // Pillow: coffee.png is 600x400 RGB; channel sums 38056581, 20590566, 12356340;
    // (90, 100) = (180, 86, 34), (20, 10) = (30, 20, 11), (60, 150) = (195, 118, 66); luminance sum 24874202.721.
    [PackageFileFact(PackageFile.Coffee, PackageFile.Skimage)]
    public void Reads_colour_png_with_planes_and_luminance_matching_pillow()
    {
        var img = PhotoIO.Read(PackageFile.Coffee);
        Assert.Equal(new[] { 600, 400 }, img.Grid.Shape);
        Assert.True(img.IsColour);
        Assert.Equal("rgb24", img.DataType);
        int n = 600 * 400;
        var c = img.ColourPlanes;
        double r = 0, g = 0, b = 0, lum = 0;
        for (int i = 0; i < n; i++) { r += c[i]; g += c[n + i]; b += c[2 * n + i]; lum += img.Voxels[i]; }
        Assert.Equal(38056581.0, r);
        Assert.Equal(20590566.0, g);
        Assert.Equal(12356340.0, b);
        Assert.Equal(24874202.721, lum, 0.5); // float32 storage of each luminance value
        int at = 100 * 600 + 90;
        Assert.Equal((180f, 86f, 34f), (c[at], c[n + at], c[2 * n + at]));
        Assert.Equal(0.299 * 180 + 0.587 * 86 + 0.114 * 34, img[90, 100], 1e-4);
        at = 150 * 600 + 60;
        Assert.Equal((195f, 118f, 66f), (c[at], c[n + at], c[2 * n + at]));
    }

    [PackageFileFact(PackageFile.TruncatedJpeg, PackageFile.Skimage)]
    public void Truncated_jpeg_from_skimage_is_an_image_format_error_naming_the_file()
    {
        var ex = Assert.Throws<ImageFormatException>(() => PhotoIO.Read(PackageFile.TruncatedJpeg));
        Assert.EndsWith("truncated.jpg", ex.FilePath);
        Assert.Contains("truncated", ex.Problem);
    }

    [Fact]
    public void Jpeg_cut_in_half_is_a_truncated_error_naming_the_file()
    {
        var (jpeg, _) = ColourPicture(64, 48, SKEncodedImageFormat.Jpeg);
        string path = Path.Combine(_dir, "cut.jpg");
        File.WriteAllBytes(path, jpeg.AsSpan(0, jpeg.Length / 2).ToArray());
        var ex = Assert.Throws<ImageFormatException>(() => PhotoIO.Read(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("truncated", ex.Problem);
    }

    /// <summary>
    /// A w x h picture whose pixel (x, y) is (4x, 5y, 7(x + y)) mod 256, encoded by SkiaSharp; returns the file's bytes
    /// and the R, G, B planes it was drawn from (the ground truth for a lossless format).
    /// </summary>
    private static (byte[] File, float[] Planes) ColourPicture(int w, int h, SKEncodedImageFormat format)
    {
        int n = w * h;
        var planes = new float[3 * n];
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                byte r = (byte)(4 * x), g = (byte)(5 * y), b = (byte)(7 * (x + y));
                bmp.SetPixel(x, y, new SKColor(r, g, b));
                int i = y * w + x;
                (planes[i], planes[n + i], planes[2 * n + i]) = (r, g, b);
            }
        using var data = bmp.Encode(format, 95);
        return (data.ToArray(), planes);
    }

    [Fact]
    public void Truncated_png_and_garbage_and_empty_files_are_image_format_errors()
    {
        var png = File.ReadAllBytes(Samples.Path("BrainProtonDensitySlice.png"));
        string cut = Path.Combine(_dir, "cut.png");
        File.WriteAllBytes(cut, png.AsSpan(0, png.Length / 2).ToArray());
        Assert.Throws<ImageFormatException>(() => PhotoIO.Read(cut));

        string garbage = Path.Combine(_dir, "garbage.png");
        var rnd = new Random(7);
        var bytes = new byte[4096];
        rnd.NextBytes(bytes);
        File.WriteAllBytes(garbage, bytes);
        var ex = Assert.Throws<ImageFormatException>(() => PhotoIO.Read(garbage));
        Assert.Contains("garbage.png", ex.Message);

        string empty = Path.Combine(_dir, "empty.jpg");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        Assert.Throws<ImageFormatException>(() => PhotoIO.Read(empty));

        Assert.Throws<FileNotFoundException>(() => PhotoIO.Read(Path.Combine(_dir, "nope.png")));
    }

    /// <summary>
    /// A tiny but well-formed PNG (signature, IHDR with correct CRC, one small IDAT, IEND) whose header declares
    /// <paramref name="w"/> x <paramref name="h"/> 8-bit grey pixels; its data holds far fewer.
    /// </summary>
    private static byte[] LyingPng(int w, int h)
    {
        using var ms = new MemoryStream();
        ms.Write(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A });
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 8; // bit depth; colour type 0 (grey), compression 0, filter 0, interlace 0
        Chunk(ms, "IHDR", ihdr);
        using (var z = new MemoryStream())
        {
            using (var zs = new System.IO.Compression.ZLibStream(z, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
                zs.Write(new byte[64]);
            Chunk(ms, "IDAT", z.ToArray());
        }
        Chunk(ms, "IEND", Array.Empty<byte>());
        return ms.ToArray();

        static void Chunk(Stream s, string type, byte[] data)
        {
            var head = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
            System.Text.Encoding.ASCII.GetBytes(type, head.AsSpan(4));
            s.Write(head);
            s.Write(data);
            var crc = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(head.AsSpan(4).ToArray().Concat(data).ToArray()));
            s.Write(crc);
        }
    }

    /// <summary>The CRC-32 of PNG chunks (reflected polynomial 0xEDB88320), bit by bit.</summary>
    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    [Theory]
    [InlineData(20000, 20000, "20000x20000 pixels (400,000,000), more than RegPS reads")]   // past the cap
    [InlineData(10000, 10000, "10000x10000 pixels, but the file has only")]                  // under the cap, but 74 bytes cannot hold it
    public void Png_declaring_a_huge_picture_in_a_tiny_file_is_refused_before_allocating(int w, int h, string words)
    {
        string path = Path.Combine(_dir, $"liar-{w}.png");
        var bytes = LyingPng(w, h);
        Assert.True(bytes.Length < 100, $"the lying PNG is {bytes.Length} bytes");
        File.WriteAllBytes(path, bytes);
        PhotoIO.Read(WarmUp());

        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<ImageFormatException>(() => PhotoIO.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(words, ex.Problem);
        Assert.True(allocated < 8 << 20, $"reading a {bytes.Length}-byte file allocated {allocated:N0} bytes");
    }

    /// <summary>A small real picture, read once so the allocations measured afterwards are not first-call setup.</summary>
    private string WarmUp()
    {
        string p = Path.Combine(_dir, "warm.png");
        if (!File.Exists(p)) File.WriteAllBytes(p, ColourPicture(8, 8, SKEncodedImageFormat.Png).File);
        return p;
    }

    [Fact]
    public void Declared_size_check_uses_each_formats_smallest_possible_encoding()
    {
        // JPEG: at least one bit per 8x8 block, so 8000x8000 (1000 x 1000 blocks) needs 125,000 bytes.
        Assert.Throws<ImageFormatException>(() => PhotoIO.CheckDeclaredSize("x.jpg", 8000, 8000, SKEncodedImageFormat.Jpeg, 124_999));
        PhotoIO.CheckDeclaredSize("x.jpg", 8000, 8000, SKEncodedImageFormat.Jpeg, 125_000);
        // PNG: rows of 1 + 1000 bytes (1-bit, 8000 wide) x 8000 rows, deflated at most 1032:1: 7,759 bytes.
        Assert.Throws<ImageFormatException>(() => PhotoIO.CheckDeclaredSize("x.png", 8000, 8000, SKEncodedImageFormat.Png, 7_758));
        PhotoIO.CheckDeclaredSize("x.png", 8000, 8000, SKEncodedImageFormat.Png, 7_759);
        // The cap holds whatever the file's length.
        var ex = Assert.Throws<ImageFormatException>(() => PhotoIO.CheckDeclaredSize("x.webp", 1 << 15, 1 << 14, SKEncodedImageFormat.Webp, long.MaxValue));
        Assert.Contains("32768x16384", ex.Problem);
    }

    [Fact]
    public void Raw_png_round_trip_is_exact_and_not_flipped()
    {
        // A 7x5 picture whose value encodes its position: v = 10 * row + column.
        var g = Grid.Create2D(7, 5);
        var v = new float[35];
        for (int y = 0; y < 5; y++) for (int x = 0; x < 7; x++) v[y * 7 + x] = 10 * y + x;
        string path = Path.Combine(_dir, "ramp.png");
        PhotoIO.WritePng(new Image(g, v), path, intensity: PngIntensity.Raw);

        var px = PngPixels.Load(path);
        Assert.Equal((7, 5), (px.Width, px.Height));
        Assert.Equal((byte)0, px[0, 0].R);        // top-left of the file is voxel (0, 0)
        Assert.Equal((byte)46, px[6, 4].R);       // bottom-right is voxel (6, 4)
        var back = PhotoIO.Read(path);
        Assert.Equal(v, back.ToArray());
        Assert.False(back.IsColour);
    }

    [Fact]
    public void MinMax_stretches_to_full_range_and_clamps_nothing_else()
    {
        var g = Grid.Create2D(3, 1);
        string path = Path.Combine(_dir, "mm.png");
        PhotoIO.WritePng(new Image(g, new[] { -2f, 0f, 2f }), path);
        var px = PngPixels.Load(path);
        Assert.Equal((byte)0, px[0, 0].R);
        Assert.Equal((byte)128, px[1, 0].R);   // (0 - -2) / 4 * 255 = 127.5, rounded half away from zero
        Assert.Equal((byte)255, px[2, 0].R);

        string raw = Path.Combine(_dir, "raw.png");
        PhotoIO.WritePng(new Image(g, new[] { -2f, 100.4f, 300f }), raw, intensity: PngIntensity.Raw);
        px = PngPixels.Load(raw);
        Assert.Equal(((byte)0, (byte)100, (byte)255), (px[0, 0].R, px[1, 0].R, px[2, 0].R));
    }

    [Fact]
    public void Colour_round_trip_keeps_planes()
    {
        var (png, planes) = ColourPicture(60, 40, SKEncodedImageFormat.Png);
        string source = Path.Combine(_dir, "drawn.png");
        File.WriteAllBytes(source, png);
        var img = PhotoIO.Read(source);
        Assert.True(img.IsColour);
        Assert.Equal(planes, img.ColourPlanes.ToArray());
        string path = Path.Combine(_dir, "colour.png");
        PhotoIO.WritePng(img, path);
        var back = PhotoIO.Read(path);
        Assert.True(back.IsColour);
        Assert.True(img.ColourPlanes.SequenceEqual(back.ColourPlanes));
    }

    [Fact]
    public void Write_refuses_overwrite_and_leaves_nothing_on_failure()
    {
        var img = new Image(Grid.Create2D(2, 2), new float[] { 1, 2, 3, 4 });
        string path = Path.Combine(_dir, "a.png");
        PhotoIO.WritePng(img, path);
        long before = new FileInfo(path).Length;
        var ex = Assert.Throws<IOException>(() => PhotoIO.WritePng(new Image(Grid.Create2D(9, 9), new float[81]), path));
        Assert.Contains(path, ex.Message);
        Assert.Equal(before, new FileInfo(path).Length);
        PhotoIO.WritePng(new Image(Grid.Create2D(9, 9), new float[81]), path, overwrite: true);
        Assert.Equal(9, PngPixels.Load(path).Width);

        string missing = Path.Combine(_dir, "no-such-dir", "b.png");
        Assert.ThrowsAny<IOException>(() => PhotoIO.WritePng(img, missing));
        Assert.False(File.Exists(missing));

        // A 3D image cannot be one PNG: the error happens before any file is created.
        string threeD = Path.Combine(_dir, "c.png");
        Assert.Throws<ArgumentException>(() => PhotoIO.WritePng(new Image(Grid.Create3D(2, 2, 2), new float[8]), threeD));
        Assert.False(File.Exists(threeD));
        Assert.Equal(new[] { "a.png" }, Directory.GetFiles(_dir).Select(Path.GetFileName).ToArray()); // no temp files left
    }

    [Fact]
    public void Exif_orientation_6_rotates_a_jpeg_clockwise()
    {
        // Stored picture 40 wide x 20 tall: left half red, right half blue. EXIF 6 (RightTop) means "rotate 90 degrees
        // clockwise to display", so the displayed picture is 20 wide x 40 tall with red on top and blue below.
        int w = 40, h = 20;
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = 3 * (y * w + x);
                if (x < w / 2) rgb[i] = 255; else rgb[i + 2] = 255;
            }
        byte[] jpeg;
        using (var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque)))
        {
            for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) { int i = 3 * (y * w + x); bmp.SetPixel(x, y, new SKColor(rgb[i], rgb[i + 1], rgb[i + 2])); }
            using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, 95);
            jpeg = data.ToArray();
        }
        string path = Path.Combine(_dir, "rot.jpg");
        File.WriteAllBytes(path, InsertExifOrientation(jpeg, 6));

        var img = PhotoIO.Read(path);
        Assert.Equal(new[] { 20, 40 }, img.Grid.Shape);
        int n = 20 * 40;
        var c = img.ColourPlanes;
        int top = 5 * 20 + 10, bottom = 35 * 20 + 10;
        Assert.True(c[top] > 200 && c[2 * n + top] < 60, $"top should be red, got R {c[top]} B {c[2 * n + top]}");
        Assert.True(c[bottom] < 60 && c[2 * n + bottom] > 200, $"bottom should be blue, got R {c[bottom]} B {c[2 * n + bottom]}");
    }

    [Fact]
    public void Orient_maps_all_eight_exif_codes()
    {
        // A 3x2 picture with pixel value = index; check where stored pixel (2, 0) (value 2) lands for each code.
        var rgba = new byte[3 * 2 * 4];
        for (int i = 0; i < 6; i++) rgba[4 * i] = (byte)i;
        var expected = new Dictionary<SKEncodedOrigin, (int W, int H, int X, int Y)>
        {
            [SKEncodedOrigin.TopLeft] = (3, 2, 2, 0),
            [SKEncodedOrigin.TopRight] = (3, 2, 0, 0),
            [SKEncodedOrigin.BottomRight] = (3, 2, 0, 1),
            [SKEncodedOrigin.BottomLeft] = (3, 2, 2, 1),
            [SKEncodedOrigin.LeftTop] = (2, 3, 0, 2),
            [SKEncodedOrigin.RightTop] = (2, 3, 1, 2),
            [SKEncodedOrigin.RightBottom] = (2, 3, 1, 0),
            [SKEncodedOrigin.LeftBottom] = (2, 3, 0, 0),
        };
        foreach (var (origin, e) in expected)
        {
            var (ow, oh) = PhotoIO.Orient(rgba, 3, 2, origin, out var result);
            Assert.Equal((e.W, e.H), (ow, oh));
            Assert.Equal((byte)2, result[4 * (e.Y * ow + e.X)]);
        }
    }

    /// <summary>Inserts an APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation) right after the JPEG SOI marker.</summary>
    private static byte[] InsertExifOrientation(byte[] jpeg, ushort orientation)
    {
        var tiff = new byte[]
        {
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8,           // header, IFD at offset 8
            0, 1,                                              // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, // Orientation, SHORT, 1 value
            0, 0, 0, 0,                                        // no next IFD
        };
        var payload = new byte[] { (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0 }.Concat(tiff).ToArray();
        int len = payload.Length + 2;
        var segment = new byte[] { 0xFF, 0xE1, (byte)(len >> 8), (byte)len }.Concat(payload).ToArray();
        return jpeg.Take(2).Concat(segment).Concat(jpeg.Skip(2)).ToArray();
    }
}
