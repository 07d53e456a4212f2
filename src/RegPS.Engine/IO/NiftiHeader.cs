namespace RegPS.Engine.IO;

/// <summary>
/// The fields of a NIfTI-1 or NIfTI-2 header, kept from the source file so a write can carry them over.
/// Plain data: the reader fills it, the writer reads it.
/// </summary>
public sealed class NiftiHeader
{
    /// <summary>1 for NIfTI-1 (348-byte header), 2 for NIfTI-2 (540-byte header).</summary>
    public int Version { get; set; } = 1;
    public bool BigEndian { get; set; }
    /// <summary>dim[0..7] as stored.</summary>
    public long[] Dim { get; set; } = new long[8];
    public double[] PixDim { get; set; } = new double[8];
    public short DataType { get; set; }
    public short BitPix { get; set; }
    public double VoxOffset { get; set; }
    public double SclSlope { get; set; }
    public double SclInter { get; set; }
    public double CalMax { get; set; }
    public double CalMin { get; set; }
    public double SliceDuration { get; set; }
    public double TOffset { get; set; }
    public long SliceStart { get; set; }
    public long SliceEnd { get; set; }
    public int SliceCode { get; set; }
    public int XyztUnits { get; set; }
    public int IntentCode { get; set; }
    public double IntentP1 { get; set; }
    public double IntentP2 { get; set; }
    public double IntentP3 { get; set; }
    public string IntentName { get; set; } = "";
    public string Description { get; set; } = "";
    public string AuxFile { get; set; } = "";
    public int QFormCode { get; set; }
    public int SFormCode { get; set; }
    public double QuaternB { get; set; }
    public double QuaternC { get; set; }
    public double QuaternD { get; set; }
    public double QOffsetX { get; set; }
    public double QOffsetY { get; set; }
    public double QOffsetZ { get; set; }
    /// <summary>srow_x, srow_y, srow_z (12 values, row-major 3x4).</summary>
    public double[] SRow { get; set; } = new double[12];
    public byte DimInfo { get; set; }
    /// <summary>"n+1"/"n+2" for single files, "ni1"/"ni2" for .hdr/.img pairs.</summary>
    public string Magic { get; set; } = "n+1";

    /// <summary>
    /// What the reader noticed and worked around while loading (e.g. "qfac (pixdim[0]) 0 treated as 1",
    /// "5-D vector field: 3 components loaded as volumes"), for the caller to show as warnings. Not written to files.
    /// </summary>
    public List<string> Warnings { get; set; } = new();

    /// <summary>The on-disk data type name for <see cref="DataType"/> ("int16", "float32", "rgb24", ...), or "code N" when unknown.</summary>
    public string DataTypeName => NiftiFormat.TypeName(DataType);

    public NiftiHeader Clone()
    {
        var c = (NiftiHeader)MemberwiseClone();
        c.Dim = (long[])Dim.Clone();
        c.PixDim = (double[])PixDim.Clone();
        c.SRow = (double[])SRow.Clone();
        c.Warnings = new List<string>(Warnings);
        return c;
    }
}
