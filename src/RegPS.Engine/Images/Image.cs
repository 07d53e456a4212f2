using RegPS.Engine.IO;

namespace RegPS.Engine.Images;

/// <summary>
/// A grid plus float32 voxels (x fastest, NIfTI order), optionally several volumes (a 4th dimension)
/// and, for photos and RGB24 NIfTI, the colour planes kept for display. Immutable once built:
/// the engine never writes into a buffer it has handed to an Image, so images are safe to share across runspaces.
/// </summary>
public sealed class Image
{
    private readonly float[] _voxels;
    private readonly float[]? _colour;

    /// <param name="grid">The spatial grid of one volume.</param>
    /// <param name="voxels">grid.VoxelCount * volumes values; the Image takes ownership (do not modify it afterwards).</param>
    /// <param name="volumes">Number of volumes along the 4th dimension.</param>
    /// <param name="colour">Optional planar RGB (R plane, G plane, B plane; 0..255) of one volume, for display.</param>
    public Image(Grid grid, float[] voxels, int volumes = 1, float[]? colour = null,
        string? sourcePath = null, string dataType = "float32", NiftiHeader? sourceHeader = null, bool voxelsAreSource = false)
    {
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentNullException.ThrowIfNull(voxels);
        if (volumes < 1) throw new ArgumentOutOfRangeException(nameof(volumes));
        if ((long)grid.VoxelCount * volumes != voxels.Length)
            throw new ArgumentException($"Expected {(long)grid.VoxelCount * volumes} voxels for {grid} x {volumes} volume(s), got {voxels.Length}.", nameof(voxels));
        if (colour is not null && colour.Length != 3 * grid.VoxelCount)
            throw new ArgumentException("Colour planes must hold 3 values per voxel of one volume.", nameof(colour));
        Grid = grid;
        _voxels = voxels;
        _colour = colour;
        Volumes = volumes;
        SourcePath = sourcePath;
        DataType = dataType;
        SourceHeader = sourceHeader;
        VoxelsAreSource = voxelsAreSource && sourceHeader is not null;
    }

    public Grid Grid { get; }
    public int Volumes { get; }
    public string? SourcePath { get; }
    /// <summary>The data type on disk (e.g. int16, float32, uint8, rgb24), or float32 for computed images.</summary>
    public string DataType { get; }
    public NiftiHeader? SourceHeader { get; }

    /// <summary>
    /// True when the voxels are exactly the values decoded from the NIfTI file <see cref="SourcePath"/> (as read, one
    /// volume of it, or reoriented), so writing them back in <see cref="DataType"/> loses nothing; false for anything
    /// computed (resampled, warped, built in memory), even when it keeps the source's metadata.
    /// </summary>
    public bool VoxelsAreSource { get; }

    public int Dimension => Grid.Dimension;
    public bool IsColour => _colour is not null;
    public string FileName => SourcePath is null ? "" : Path.GetFileName(SourcePath);

    /// <summary>The file name the image was read from (e.g. sub-01_T1w.nii.gz); empty for a computed image.</summary>
    public string Name => FileName;

    /// <summary>Voxels along x, y (and z for 3D), then the number of volumes when there are several.</summary>
    public int[] Shape => Volumes > 1 ? [.. Grid.Shape, Volumes] : Grid.Shape;

    /// <summary>Voxel size in mm along each spatial axis (the grid's spacing).</summary>
    public double[] VoxelSize => Grid.Spacing;

    /// <summary>Which world direction each voxel axis increases towards, e.g. RAS or LPS.</summary>
    public string Orientation => Grid.Orientation;

    /// <summary>Number of values over all volumes (the length of <see cref="Voxels"/>).</summary>
    public long VoxelCount => _voxels.LongLength;

    /// <summary>A read-only list over all voxels that shares this image's buffer (no copy); PowerShell sees it as Voxels.</summary>
    public VoxelList AsVoxelList() => new(_voxels);

    /// <summary>Read-only view of all voxels of all volumes.</summary>
    public ReadOnlySpan<float> Voxels => _voxels;

    /// <summary>The backing array. Engine code reads it directly for speed and must never write to it.</summary>
    internal float[] Buffer => _voxels;

    internal float[]? ColourBuffer => _colour;
    public ReadOnlySpan<float> ColourPlanes => _colour;

    /// <summary>A copy of the colour planes (R plane, G plane, B plane; 0..255), or null for a greyscale image.</summary>
    public float[]? ColourToArray() => _colour is null ? null : (float[])_colour.Clone();

    public float this[int x, int y, int z = 0] => _voxels[Grid.Index(x, y, z)];

    /// <summary>A copy of the voxels (all volumes).</summary>
    public float[] ToArray() => (float[])_voxels.Clone();

    /// <summary>One volume of a 4D image as a 3D image (shares nothing with this one).</summary>
    public Image Volume(int index)
    {
        if (index < 0 || index >= Volumes) throw new ArgumentOutOfRangeException(nameof(index), $"Volume {index} does not exist; the image has {Volumes}.");
        if (Volumes == 1) return this;
        var data = new float[Grid.VoxelCount];
        Array.Copy(_voxels, (long)index * Grid.VoxelCount, data, 0, Grid.VoxelCount);
        return new Image(Grid, data, 1, null, SourcePath, DataType, SourceHeader, VoxelsAreSource);
    }

    /// <summary>A new image on the same grid with other voxels, keeping the source metadata.</summary>
    public Image WithVoxels(float[] voxels, int volumes = 1, float[]? colour = null) =>
        new(Grid, voxels, volumes, colour, SourcePath, DataType, SourceHeader);

    /// <summary>A computed image on a grid (no file behind it).</summary>
    public static Image FromVoxels(Grid grid, float[] voxels) => new(grid, voxels);

    /// <summary>Minimum and maximum over finite voxels (NaN, NaN when there are none).</summary>
    public (float Min, float Max) Range()
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in _voxels)
        {
            if (!float.IsFinite(v)) continue;
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return min > max ? (float.NaN, float.NaN) : (min, max);
    }

    public override string ToString() => $"{(SourcePath is null ? "image" : FileName)} {Grid}{(Volumes > 1 ? $" x{Volumes}" : "")} {DataType}";
}
